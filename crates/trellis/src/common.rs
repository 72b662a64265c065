//! What the subcommands share: loading a program, macros and node
//! parameters, cluster keys, extra watches, and tuples given on the command
//! line.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use trellis_engine::{NodeParams, Tuple};
use trellis_net::ClusterKey;
use trellis_plan::{Plan, WatchModes};
use trellis_render::{Style, render_all};
use trellis_syntax::{GroundError, GroundField, ParseOptions, SourceMap, parse_ground};
use trellis_value::Value;

use crate::cli::ProgramArgs;

/// Colours only on a terminal.
pub fn style() -> Style {
    if std::io::stderr().is_terminal() {
        Style::Color
    } else {
        Style::Plain
    }
}

pub fn parse_options(args: &ProgramArgs) -> ParseOptions {
    ParseOptions {
        defines: args
            .defines
            .iter()
            .map(|d| (d.name.clone(), d.value.clone()))
            .collect(),
        // Per-node values every runner provides unless `-D` defines them.
        node_params: NodeParams::standard().names().map(String::from).collect(),
    }
}

/// Load a program, printing diagnostics. Fails with exit code 1 when it
/// does not compile, 2 when its file cannot be read (an I/O error, not a
/// diagnostic about the program).
pub fn load(args: &ProgramArgs, options: &ParseOptions) -> Result<trellis_plan::Plan, ExitCode> {
    if let Err(e) = std::fs::read(&args.file) {
        eprintln!(
            "error: cannot read {}: {}",
            args.file.display(),
            io_reason(&e)
        );
        return Err(ExitCode::from(2));
    }
    match trellis_plan::load_file(&args.file, options) {
        Ok(loaded) => {
            eprint!("{}", render_all(&loaded.warnings, style()));
            Ok(loaded.plan)
        }
        Err(diagnostics) => {
            eprint!("{}", render_all(&diagnostics, style()));
            Err(ExitCode::FAILURE)
        }
    }
}

/// An I/O error's reason without Rust's " (os error N)" suffix.
pub fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// Set by `trellis cluster` for its nodes: the cluster's pid.
pub const CLUSTER_PARENT: &str = "TRELLIS_CLUSTER_PARENT";

/// Read a cluster key file.
pub fn read_key(path: &Path) -> Result<ClusterKey, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read cluster key {}: {e}", path.display()))?;
    if bytes.is_empty() {
        return Err(format!("cluster key {} is empty", path.display()));
    }
    Ok(ClusterKey::new(bytes))
}

/// `--watch REL` / `--watch all`.
pub fn add_watches(plan: &mut Plan, names: &[String]) -> Result<(), String> {
    for name in names {
        if name == "all" {
            for r in plan.relations.iter_mut() {
                r.watch = Some(WatchModes::ALL);
            }
            continue;
        }
        let id = plan
            .lookup(name)
            .ok_or_else(|| format!("--watch {name}: no such relation in the program"))?;
        plan.relations[id.0 as usize].watch = Some(WatchModes::ALL);
    }
    Ok(())
}

/// Parse the tuple `rel(args)` given to `command` (`--fact`, `inject`)
/// with the program's macros; `LOCALADDRESS` is `address`. Errors come
/// rendered, ready for stderr.
pub fn parse_fact(
    command: &str,
    text: &str,
    options: &ParseOptions,
    address: &str,
) -> Result<(String, Tuple), String> {
    let mut sources = SourceMap::new();
    let not_constant = || format!("error: {command} `{text}`: fields must be constants\n");
    let tuple = parse_ground(command, text, options, &mut sources).map_err(|e| match e {
        GroundError::Syntax(errors) => errors
            .iter()
            .map(|e| trellis_render::render(&sources, e, style()))
            .collect::<String>(),
        GroundError::NotOneTuple => format!(
            "error: {command} expects one tuple such as `link(\"{address}\", 1)`, got `{text}`\n"
        ),
        GroundError::NotGround { .. } => not_constant(),
    })?;
    let fields = tuple
        .fields
        .into_iter()
        .map(|field| match field {
            GroundField::Value(v) => Ok(v),
            GroundField::Param(p) if p == trellis_plan::LOCAL_ADDRESS => Ok(Value::str(address)),
            GroundField::Param(_) => Err(not_constant()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((tuple.relation, Tuple::from(fields)))
}
