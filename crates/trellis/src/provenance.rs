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

/// One derivation on `node`, as a line of the log, its fields in the
/// order documented (written straight to `w`: a run writes millions).
pub fn write_line(
    w: &mut impl Write,
    plan: &Plan,
    node: &str,
    d: &Derivation,
) -> std::io::Result<()> {
    w.write_all(b"{\"node\":")?;
    serde_json::to_writer(&mut *w, node)?;
    let seconds = d.time as f64 / NANOS_PER_SECOND as f64;
    write!(w, ",\"time\":{},\"tick\":{}", J::from(seconds), d.tick)?;
    w.write_all(b",\"relation\":")?;
    serde_json::to_writer(&mut *w, &plan.relation(d.relation).name)?;
    w.write_all(b",\"tuple\":")?;
    serde_json::to_writer(&mut *w, &output::tuple_json(&d.tuple))?;
    write!(
        w,
        ",\"id\":\"{}\",\"cause\":{{\"how\":\"{}\"",
        hex(d.id),
        d.cause.how()
    )?;
    match &d.cause {
        Cause::Rule {
            rule,
            exec,
            inputs,
            sent,
        } => {
            w.write_all(b",\"rule\":")?;
            serde_json::to_writer(&mut *w, &plan.rule(*rule).name)?;
            write!(w, ",\"exec\":\"{}\",\"inputs\":[", hex(*exec))?;
            for (i, input) in inputs.iter().enumerate() {
                let comma = if i == 0 { "" } else { "," };
                write!(w, "{comma}\"{}\"", hex(*input))?;
            }
            write!(w, "],\"sent\":{sent}")?;
        }
        Cause::Received { from, exec } => {
            w.write_all(b",\"from\":")?;
            serde_json::to_writer(&mut *w, &from.as_deref())?;
            match exec {
                Some(e) => write!(w, ",\"exec\":\"{}\"", hex(*e))?,
                None => w.write_all(b",\"exec\":null")?,
            }
        }
        Cause::Fact | Cause::Injected | Cause::Timer => {}
    }
    w.write_all(b"}}\n")
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
        match write_line(&mut self.out, plan, node, d) {
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
