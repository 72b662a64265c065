//! `trellis why DIR 'pattern'`: the derivation trees, across nodes, of the
//! tuples a pattern picks in a simulation's provenance log
//! (docs/provenance.md).

mod absent;
mod history;
mod live;
mod load;
mod render;
mod tree;

use std::process::ExitCode;

use trellis_syntax::{ParseOptions, Pattern, SourceMap, parse_pattern};

use crate::cli::{WhyArgs, WhyFormat, WhyNotArgs};
use crate::common::style;
use crate::output;
use load::Log;

/// A pattern from the command line, or its diagnostics rendered.
fn pattern(text: &str) -> Result<Pattern, ExitCode> {
    let mut sources = SourceMap::new();
    parse_pattern("pattern", text, &ParseOptions::default(), &mut sources).map_err(|errors| {
        for e in &errors {
            eprint!("{}", trellis_render::render(&sources, e, style()));
        }
        ExitCode::from(2)
    })
}

pub fn why_not(args: &WhyNotArgs) -> ExitCode {
    match pattern(&args.pattern) {
        Ok(p) => absent::why_not(args, &p),
        Err(code) => code,
    }
}

pub fn why(args: &WhyArgs) -> ExitCode {
    if let Some(program) = &args.program {
        return history::query(&args.dir, program, args.format == WhyFormat::Json);
    }
    let text = args
        .pattern
        .as_deref()
        .expect("clap requires a pattern without --program");
    let pattern = match pattern(text) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let log = match live_address(&args.dir) {
        Some(address) => match live::ask(address, &pattern, &args.live) {
            Ok(log) => log,
            Err(code) => return code,
        },
        None => match Log::load(&args.dir) {
            Ok(log) => log,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
    };
    let roots = tree::roots(&log, &pattern, args.at);
    if roots.is_empty() {
        eprintln!("{}", nothing_matched(&log, &pattern, args));
        return ExitCode::FAILURE;
    }
    let trees: Vec<tree::Vertex> = roots
        .iter()
        .map(|&r| tree::tree(&log, r, usize::from(args.depth)))
        .collect();
    match args.format {
        WhyFormat::Text => {
            let text: Vec<String> = trees.iter().map(|t| render::text(&log, t)).collect();
            output::stdout(format_args!("{}", text.join("\n")));
        }
        WhyFormat::Json => {
            for t in &trees {
                output::stdout(format_args!("{}\n", render::json(&log, t)));
            }
        }
        WhyFormat::Dot | WhyFormat::Mermaid => {
            let mut graph = render::Graph::default();
            for t in &trees {
                graph.add(&log, t);
            }
            let text = if args.format == WhyFormat::Dot {
                graph.dot(&log)
            } else {
                graph.mermaid(&log)
            };
            output::stdout(format_args!("{text}"));
        }
    }
    let s = if roots.len() == 1 { "" } else { "s" };
    eprintln!("{} tuple{s} matched `{}`", roots.len(), pattern_text(args));
    ExitCode::SUCCESS
}

/// Why nothing matched, as far as the log can tell.
fn nothing_matched(log: &Log, pattern: &Pattern, args: &WhyArgs) -> String {
    let at = args
        .at
        .map_or(String::new(), |t| format!(" at or before {t}s"));
    let head = format!(
        "no tuple matches `{}` in {}{at}",
        pattern_text(args),
        log.path.display()
    );
    let arities: std::collections::BTreeSet<usize> = log
        .entries
        .iter()
        .filter(|e| log.name_of(e.relation) == pattern.relation)
        .map(|e| e.tuple.len())
        .collect();
    if arities.is_empty() {
        let relations: std::collections::BTreeSet<&str> = log
            .entries
            .iter()
            .map(|e| log.name_of(e.relation))
            .collect();
        let names: Vec<&str> = relations.into_iter().collect();
        return format!(
            "{head}: no derivation of `{}` is recorded (recorded: {})",
            pattern.relation,
            if names.is_empty() {
                "nothing".to_string()
            } else {
                names.join(", ")
            }
        );
    }
    if !arities.contains(&pattern.fields.len()) {
        let list: Vec<String> = arities.iter().map(usize::to_string).collect();
        return format!(
            "{head}: `{}` has {} fields, the pattern {}",
            pattern.relation,
            list.join(" or "),
            pattern.fields.len()
        );
    }
    head
}

fn pattern_text(args: &WhyArgs) -> &str {
    args.pattern.as_deref().unwrap_or_default().trim()
}

/// `host:port` of a running node, when that is what the first argument
/// is rather than a directory.
fn live_address(dir: &std::path::Path) -> Option<&str> {
    let text = dir.to_str()?;
    let (host, port) = text.rsplit_once(':')?;
    let is_address = !host.is_empty() && !text.contains('/') && port.parse::<u16>().is_ok();
    (is_address && !dir.exists()).then_some(text)
}
