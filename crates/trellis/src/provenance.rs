//! Provenance on the runners (docs/provenance.md): what `--provenance` and
//! its bounds do to a plan, and the log `trellis sim --out DIR` writes for
//! `trellis why`, one derivation a line in DIR/provenance.jsonl.
//!
//! A line: `{"node", "time" (seconds), "tick", "relation", "tuple" (values
//! as `--json` prints them), "id" (16 hex digits), "cause"}`, the cause one
//! of `{"how": "rule", "rule", "exec", "inputs", "sent"}`, `{"how":
//! "fact"}`, `{"how": "inject"}`, `{"how": "timer"}` or `{"how": "recv",
//! "from", "exec"}`. The reader is `why::load`; the two change together.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::Value as J;
use trellis_engine::{Cause, Derivation, NANOS_PER_SECOND, Stats};
use trellis_plan::Plan;

use crate::cli::{ProgramArgs, ProvenanceArgs};
use crate::output;

/// The log's name in a simulation's `--out` directory.
pub const LOG_FILE: &str = "provenance.jsonl";

/// Trace what the flags say, and bound the provenance tables. A live node
/// (`keep_tables`) keeps what it traces in `ruleExec` and `tupleTable`,
/// where it can be read back; a simulation writes it to its log instead.
pub fn apply(args: &ProvenanceArgs, plan: &mut Plan, keep_tables: bool) {
    if args.provenance {
        plan.trace_all();
    }
    if keep_tables && plan.traces_anything() {
        plan.keep_provenance_tables(args.limits());
    }
    plan.limit_provenance(args.limits());
}

/// The rules a live node that traces anything answers `trellis why ADDR`
/// with (examples/provenance/why.olg).
pub const WHY_RULES: &str = include_str!("../../../examples/provenance/why.olg");

/// The program of a live node: with the why rules when it traces
/// anything (`--provenance`, or a `trace` statement).
pub fn load_live(
    program: &ProgramArgs,
    options: &trellis_syntax::ParseOptions,
    args: &ProvenanceArgs,
) -> Result<Plan, std::process::ExitCode> {
    let library = [("<why rules>", WHY_RULES)];
    if args.provenance {
        return crate::common::load_program_with(program, options, &library).map(|l| l.plan);
    }
    let plan = crate::common::load(program, options)?;
    if !plan.traces_anything() {
        return Ok(plan);
    }
    // It traces: again with the why rules (its warnings are shown above).
    match trellis_plan::load_file_with(&program.file, options, &library) {
        Ok(mut loaded) => {
            loaded.plan.semantics = plan.semantics;
            Ok(loaded.plan)
        }
        Err(d) => {
            eprint!("{}", trellis_render::render_all(&d, crate::common::style()));
            Err(std::process::ExitCode::FAILURE)
        }
    }
}

/// An ID as the log writes it: 16 hex digits.
pub fn hex(id: u64) -> String {
    format!("{id:016x}")
}

/// One derivation on `node`, as a line of the log (without the newline).
pub fn line(plan: &Plan, node: &str, d: &Derivation) -> String {
    let text = |v: J| v.to_string();
    let how = ("how", text(J::from(d.cause.how())));
    let cause = match &d.cause {
        Cause::Rule {
            rule,
            exec,
            inputs,
            sent,
        } => object(&[
            how,
            ("rule", text(J::from(plan.rule(*rule).name.as_str()))),
            ("exec", text(J::from(hex(*exec)))),
            (
                "inputs",
                text(inputs.iter().map(|&i| J::from(hex(i))).collect()),
            ),
            ("sent", text(J::from(*sent))),
        ]),
        Cause::Received { from, exec } => object(&[
            how,
            ("from", text(from.as_deref().map_or(J::Null, J::from))),
            ("exec", text(exec.map_or(J::Null, |e| J::from(hex(e))))),
        ]),
        Cause::Fact | Cause::Injected | Cause::Timer => object(&[how]),
    };
    object(&[
        ("node", text(J::from(node))),
        (
            "time",
            text(J::from(d.time as f64 / NANOS_PER_SECOND as f64)),
        ),
        ("tick", d.tick.to_string()),
        (
            "relation",
            text(J::from(plan.relation(d.relation).name.as_str())),
        ),
        ("tuple", text(output::tuple_json(&d.tuple))),
        ("id", text(J::from(hex(d.id)))),
        ("cause", cause),
    ])
}

/// `{"k":v,...}` from values already in JSON, in the order given
/// (serde_json's maps would sort them).
fn object(fields: &[(&str, String)]) -> String {
    let fields: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", fields.join(","))
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot remove {path}: {source}")]
    Remove {
        path: String,
        source: std::io::Error,
    },
}

/// Remove DIR/provenance.jsonl, left by an earlier run, when this run
/// writes none: `trellis why DIR` must not explain another run. Whether
/// there was one.
pub fn remove_stale_log(dir: &Path) -> Result<bool, LogError> {
    let path = dir.join(LOG_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(LogError::Remove {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// DIR/provenance.jsonl, being written.
pub struct LogWriter {
    path: PathBuf,
    out: BufWriter<File>,
    written: u64,
    /// The first write that failed: the run goes on, and it is reported at
    /// the end.
    failed: Option<std::io::Error>,
}

impl LogWriter {
    pub fn create(dir: &Path) -> Result<LogWriter, LogError> {
        let path = dir.join(LOG_FILE);
        let error = |source| LogError::Write {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(error)?;
        let file = File::create(&path).map_err(error)?;
        Ok(LogWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            path,
            written: 0,
            failed: None,
        })
    }

    pub fn write(&mut self, plan: &Plan, node: &str, d: &Derivation) {
        if self.failed.is_some() {
            return;
        }
        match writeln!(self.out, "{}", line(plan, node, d)) {
            Ok(()) => self.written += 1,
            Err(e) => self.failed = Some(e),
        }
    }

    /// Flush; how many derivations were written.
    pub fn finish(mut self) -> Result<u64, LogError> {
        let flushed = self.out.flush();
        match self.failed.take().map_or(flushed, Err) {
            Ok(()) => Ok(self.written),
            Err(source) => Err(LogError::Write {
                path: self.path.display().to_string(),
                source,
            }),
        }
    }
}

/// What the engine dropped from `ruleExec` and `tupleTable` under their
/// bounds, when the plan has them: `(table, expired, evicted)`.
pub fn drops(plan: &Plan, stats: &Stats) -> Vec<(&'static str, u64, u64)> {
    let Some((rule_exec, tuple_table)) = plan.provenance_tables() else {
        return Vec::new();
    };
    [
        (trellis_plan::RULE_EXEC, rule_exec),
        (trellis_plan::TUPLE_TABLE, tuple_table),
    ]
    .into_iter()
    .map(|(name, rel)| {
        let s = &stats.relations[rel.0 as usize];
        (name, s.expirations, s.evictions)
    })
    .collect()
}
