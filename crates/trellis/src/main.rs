//! `trellis`: check, explain, graph and run OverLog programs.

// `print!` panics when stdout is closed (`| head -1`): write through
// `output::stdout` instead.
#![deny(clippy::print_stdout)]

mod cli;
mod cluster;
mod common;
mod inject;
mod output;
mod provenance;
mod run;
mod signals;
mod sim;
mod watch_filter;
mod why;

use std::process::ExitCode;

use clap::Parser;

use trellis_plan::calm;
use trellis_render::render_all;

use crate::cli::{CalmArgs, Cli, Command, ProgramArgs};
use crate::common::{load, load_program, parse_options, style};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Explain(args) if args.calm => explain_calm(&args.program),
        Command::Explain(args) => with_plan(&args.program, |plan| {
            output::stdout(format_args!("{}", trellis_plan::explain(plan)))
        }),
        Command::Graph(args) => {
            let format = args.format.into();
            with_plan(&args.program, |plan| {
                let text = if args.calm {
                    calm::graph_calm(plan, &calm::analyze(plan), format)
                } else {
                    trellis_plan::graph(plan, format)
                };
                output::stdout(format_args!("{text}"))
            })
        }
        Command::Run(args) => run::run(&args),
        Command::Sim(args) => sim::sim(&args),
        Command::Cluster(args) => cluster::cluster(&args),
        Command::Inject(args) => inject::inject(&args),
        Command::Why(args) => why::why(&args),
        Command::WhyNot(args) => why::why_not(&args),
    }
}

fn check(args: &CalmArgs) -> ExitCode {
    let calm = args.calm;
    let args = &args.program;
    match load_program(args, &parse_options(args)) {
        Ok(loaded) => {
            let plan = &loaded.plan;
            let mut points = 0;
            if calm {
                let warnings = calm::warnings(plan, &calm::analyze(plan));
                points = warnings.len();
                let diagnostics = trellis_plan::Diagnostics {
                    sources: loaded.warnings.sources,
                    errors: Vec::new(),
                    warnings: warnings
                        .into_iter()
                        .map(|w| Box::new(w) as Box<dyn trellis_syntax::SourceDiagnostic>)
                        .collect(),
                };
                eprint!("{}", render_all(&diagnostics, style()));
            }
            let rules = plan.rules.iter().filter(|r| r.origin.is_none()).count()
                + plan
                    .rules
                    .iter()
                    .filter_map(|r| r.origin.as_ref())
                    .collect::<std::collections::BTreeSet<_>>()
                    .len();
            let tables = plan
                .relations
                .iter()
                .filter(|r| matches!(r.kind, trellis_plan::RelationKind::Table(_)))
                .count();
            let points = if calm {
                format!(", {}", count(points, "point of order", "points of order"))
            } else {
                String::new()
            };
            eprintln!(
                "{}: ok: {} ({} after localization), {}, {}{points}",
                args.file.display(),
                count(rules, "rule", "rules"),
                plan.rules.len(),
                count(tables, "table", "tables"),
                count(plan.strata.len(), "stratum", "strata"),
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// `1 rule`, `2 rules`.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `explain --calm`: the analysis, each point of order at `file:line`.
fn explain_calm(args: &ProgramArgs) -> ExitCode {
    match load_program(args, &parse_options(args)) {
        Ok(loaded) => {
            let sources = &loaded.warnings.sources;
            let locate = |span: trellis_syntax::Span| {
                let (line, _) = sources.line_col(span);
                format!("{}:{line}", sources.get(span.file).name)
            };
            let analysis = calm::analyze(&loaded.plan);
            output::stdout(format_args!(
                "{}",
                calm::explain_calm(&loaded.plan, &analysis, &locate)
            ));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn with_plan(args: &ProgramArgs, show: impl FnOnce(&trellis_plan::Plan)) -> ExitCode {
    match load(args, &parse_options(args)) {
        Ok(plan) => {
            show(&plan);
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
