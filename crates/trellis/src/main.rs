//! `trellis`: check, explain, graph and run OverLog programs.

// `print!` panics when stdout is closed (`| head -1`): write through
// `output::stdout` instead.
#![deny(clippy::print_stdout)]

mod cli;
mod cluster;
mod common;
mod inject;
mod output;
mod run;
mod signals;
mod sim;
mod watch_filter;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, ProgramArgs};
use crate::common::{load, parse_options};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Explain(args) => with_plan(&args, |plan| {
            output::stdout(format_args!("{}", trellis_plan::explain(plan)))
        }),
        Command::Graph(args) => {
            let format = args.format.into();
            with_plan(&args.program, |plan| {
                output::stdout(format_args!("{}", trellis_plan::graph(plan, format)))
            })
        }
        Command::Run(args) => run::run(&args),
        Command::Sim(args) => sim::sim(&args),
        Command::Cluster(args) => cluster::cluster(&args),
        Command::Inject(args) => inject::inject(&args),
    }
}

fn check(args: &ProgramArgs) -> ExitCode {
    match load(args, &parse_options(args)) {
        Ok(plan) => {
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
            eprintln!(
                "{}: ok: {} ({} after localization), {}, {}",
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

fn with_plan(args: &ProgramArgs, show: impl FnOnce(&trellis_plan::Plan)) -> ExitCode {
    match load(args, &parse_options(args)) {
        Ok(plan) => {
            show(&plan);
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}
