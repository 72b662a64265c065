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
    load_program(args, options).map(|loaded| loaded.plan)
}

/// [`load`], keeping the sources (for diagnostics about the plan).
pub fn load_program(
    args: &ProgramArgs,
    options: &ParseOptions,
) -> Result<trellis_plan::Loaded, ExitCode> {
    load_program_with(args, options, &[])
}

/// [`load_program`], with `library` programs appended (see
/// [`trellis_plan::load_file_with`]).
pub fn load_program_with(
    args: &ProgramArgs,
    options: &ParseOptions,
    library: &[(&str, &str)],
) -> Result<trellis_plan::Loaded, ExitCode> {
    if let Err(e) = std::fs::read(&args.file) {
        eprintln!(
            "error: cannot read {}: {}",
            args.file.display(),
            io_reason(&e)
        );
        return Err(ExitCode::from(2));
    }
    match trellis_plan::load_file_with(&args.file, options, library) {
        Ok(mut loaded) => {
            loaded.warnings.allow(&args.allow);
            eprint!("{}", render_all(&loaded.warnings, style()));
            let mut loaded = loaded;
            // The command line has the last word over the program's choice.
            if let Some(semantics) = args.semantics {
                loaded.plan.semantics = semantics.into();
            }
            Ok(loaded)
        }
        Err(mut diagnostics) => {
            diagnostics.allow(&args.allow);
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

/// The shortest cluster key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 16;

/// Read a cluster key file: at least [`MIN_KEY_BYTES`] bytes, in a file
/// neither group nor others may read or write (as ssh demands of a private
/// key).
pub fn read_key(path: &Path) -> Result<ClusterKey, String> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read cluster key {shown}: {}", io_reason(&e)))?;
    if !meta.is_file() {
        return Err(format!("cluster key {shown} is not a regular file"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(format!(
                "permissions {mode:04o} for cluster key {shown} are too open: \
                 it must not be readable or writable by group or others \
                 (run `chmod 600 {shown}`)"
            ));
        }
    }
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read cluster key {shown}: {}", io_reason(&e)))?;
    if bytes.len() < MIN_KEY_BYTES {
        return Err(format!(
            "cluster key {shown} is {} byte{}: a key needs at least {MIN_KEY_BYTES} \
             bytes (e.g. `head -c 32 /dev/urandom > {shown}`)",
            bytes.len(),
            if bytes.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(ClusterKey::new(bytes))
}

/// `--watch REL` / `--watch all`.
pub fn add_watches(plan: &mut Plan, names: &[String]) -> Result<(), String> {
    for name in names {
        if name == "all" {
            for r in plan.relations.iter_mut() {
                r.watch = Some(r.watch.unwrap_or_default().union(WatchModes::PLAIN));
            }
            continue;
        }
        let id = plan
            .lookup(name)
            .ok_or_else(|| format!("--watch {name}: no such relation in the program"))?;
        let watch = &mut plan.relations[id.0 as usize].watch;
        *watch = Some(watch.unwrap_or_default().union(WatchModes::PLAIN));
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

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn key_file(dir: &Path, bytes: &[u8], mode: u32) -> std::path::PathBuf {
        let path = dir.join("cluster.key");
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_short_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(dir.path(), b"k", 0o600);
        let Err(err) = read_key(&path) else {
            panic!("accepted")
        };
        assert!(
            err.contains("is 1 byte: a key needs at least 16 bytes"),
            "{err}"
        );
        let path = key_file(dir.path(), &[7; 15], 0o600);
        assert!(read_key(&path).is_err());
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        for mode in [0o644, 0o640, 0o602, 0o666] {
            let path = key_file(dir.path(), &[7; 32], mode);
            let Err(err) = read_key(&path) else {
                panic!("accepted")
            };
            assert!(err.contains(&format!("permissions {mode:04o}")), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
            assert!(err.contains("chmod 600"), "{err}");
        }
    }

    #[test]
    fn a_private_key_of_32_bytes_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_file(dir.path(), &[7; 32], 0o600);
        assert!(read_key(&path).is_ok());
        let path = key_file(dir.path(), &[7; 16], 0o400);
        assert!(read_key(&path).is_ok());
    }
}
