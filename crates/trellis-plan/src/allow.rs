//! Silencing warnings by kind (`-A KIND`, as rustc's `-A`): a kind is the
//! last part of a warning's code (`trellis::plan::never_derived` is
//! `never_derived`).

use crate::load::Diagnostics;

/// Every warning a program can get, by kind.
pub const WARNING_KINDS: [&str; 10] = [
    "extra_directive_tokens",
    "unused_define",
    "macro_redefined",
    "unknown_watchmod_letter",
    "duplicate_rule_name",
    "never_derived",
    "watch_unknown",
    "watch_periodic_letter",
    "external_unknown",
    "notin_wildcard",
];

/// `-A warnings` silences every kind (rustc's spelling).
pub const ALL_WARNINGS: &str = "warnings";

/// A kind `-A` accepts, or why not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no warning is called `{0}`; the kinds are {kinds}, or `warnings` for all", kinds = WARNING_KINDS.join(", "))]
pub struct UnknownWarningKind(pub String);

pub fn warning_kind(name: &str) -> Result<String, UnknownWarningKind> {
    if name == ALL_WARNINGS || WARNING_KINDS.contains(&name) {
        Ok(name.to_string())
    } else {
        Err(UnknownWarningKind(name.to_string()))
    }
}

impl Diagnostics {
    /// Drop the warnings of the kinds in `allowed` (errors stay).
    pub fn allow(&mut self, allowed: &[String]) {
        if allowed.iter().any(|k| k == ALL_WARNINGS) {
            self.warnings.clear();
            return;
        }
        self.warnings.retain(|w| {
            let code = w.code().map(|c| c.to_string()).unwrap_or_default();
            let kind = code.rsplit("::").next().unwrap_or_default();
            !allowed.iter().any(|a| a == kind)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes of the warnings declared in an `error.rs`.
    fn warning_codes(source: &str) -> Vec<String> {
        let lines: Vec<&str> = source.lines().collect();
        let mut codes = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            if !line.contains("severity(Warning)") {
                continue;
            }
            let around = lines[i.saturating_sub(3)..=i].join(" ");
            let code = around
                .split("code(")
                .nth(1)
                .and_then(|rest| rest.split([')', ',']).next())
                .expect("a code near the severity");
            codes.push(code.rsplit("::").next().unwrap().to_string());
        }
        codes
    }

    #[test]
    fn every_warning_has_a_kind() {
        let mut declared = warning_codes(include_str!("error.rs"));
        declared.extend(warning_codes(include_str!(
            "../../trellis-syntax/src/error.rs"
        )));
        declared.sort();
        let mut listed = WARNING_KINDS.map(String::from).to_vec();
        listed.sort();
        assert_eq!(declared, listed);
    }

    #[test]
    fn unknown_kinds_are_refused() {
        assert_eq!(
            warning_kind("never_derived").as_deref(),
            Ok("never_derived")
        );
        assert_eq!(warning_kind("warnings").as_deref(), Ok("warnings"));
        let err = warning_kind("never_derivd").unwrap_err().to_string();
        assert!(err.contains("no warning is called `never_derivd`"), "{err}");
        assert!(err.contains("never_derived, watch_unknown"), "{err}");
    }

    #[test]
    fn allowed_kinds_are_dropped() {
        let program = "watch(pong).\nl1 out(@X, K) :- lookup(@X, K).\n";
        let options = trellis_syntax::ParseOptions::default();
        let load = || crate::load_str("t.olg", program, &options).expect("compiles");
        let kinds = |d: &Diagnostics| -> Vec<String> {
            d.warnings
                .iter()
                .map(|w| w.code().unwrap().to_string())
                .collect()
        };
        let mut w = load().warnings;
        assert_eq!(
            kinds(&w),
            [
                "trellis::plan::watch_unknown",
                "trellis::plan::never_derived"
            ]
        );
        w.allow(&["never_derived".into()]);
        assert_eq!(kinds(&w), ["trellis::plan::watch_unknown"]);
        let mut w = load().warnings;
        w.allow(&[ALL_WARNINGS.into()]);
        assert!(w.warnings.is_empty());
    }
}
