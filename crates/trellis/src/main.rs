//! `trellis`: check, explain, graph and run OverLog programs.

mod cli;
mod cluster;
mod inject;
mod output;
mod run;
mod signals;
mod sim;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use trellis_render::{Style, render_all};
use trellis_syntax::ParseOptions;

use cli::{Cli, Command, ProgramArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Explain(args) => {
            with_plan(&args, |plan| print!("{}", trellis_plan::explain(plan)))
        }
        Command::Graph(args) => {
            let format = args.format.into();
            with_plan(&args.program, |plan| {
                print!("{}", trellis_plan::graph(plan, format))
            })
        }
        Command::Run(args) => run::run(&args),
        Command::Sim(args) => sim::sim(&args),
        Command::Cluster(args) => cluster::cluster(&args),
        Command::Inject(args) => inject::inject(&args),
    }
}

/// Colours only on a terminal.
pub(crate) fn style() -> Style {
    if std::io::stderr().is_terminal() {
        Style::Color
    } else {
        Style::Plain
    }
}

/// Per-node values every runner provides unless `-D` defines them: the
/// node's ring identifier and the node to join through.
pub(crate) const STANDARD_PARAMS: [&str; 2] = ["NODEID", "LANDMARK"];

pub(crate) fn parse_options(args: &ProgramArgs) -> ParseOptions {
    ParseOptions {
        defines: args
            .defines
            .iter()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect(),
        node_params: STANDARD_PARAMS.iter().map(|p| p.to_string()).collect(),
    }
}

/// Load a program, printing diagnostics; `None` when it does not compile.
pub(crate) fn load(args: &ProgramArgs, options: &ParseOptions) -> Option<trellis_plan::Plan> {
    match trellis_plan::load_file(&args.file, options) {
        Ok(loaded) => {
            eprint!("{}", render_all(&loaded.warnings, style()));
            Some(loaded.plan)
        }
        Err(diagnostics) => {
            eprint!("{}", render_all(&diagnostics, style()));
            None
        }
    }
}

fn check(args: &ProgramArgs) -> ExitCode {
    match load(args, &parse_options(args)) {
        Some(plan) => {
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
                "{}: ok: {rules} rules ({} after localization), {tables} tables, {} strata",
                args.file.display(),
                plan.rules.len(),
                plan.strata.len()
            );
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}

fn with_plan(args: &ProgramArgs, show: impl FnOnce(&trellis_plan::Plan)) -> ExitCode {
    match load(args, &parse_options(args)) {
        Some(plan) => {
            show(&plan);
            ExitCode::SUCCESS
        }
        None => ExitCode::FAILURE,
    }
}
