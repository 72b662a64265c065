//! One call from a file (or text) to a plan, with every diagnostic from the
//! front end and the planner, as data (`trellis-render` renders them).

use std::fmt;
use std::path::Path;

use trellis_syntax::{ParseOptions, SourceDiagnostic, SourceMap, Span};

use crate::compile::compile;
use crate::plan::Plan;

/// Diagnostics with the sources they point into.
pub struct Diagnostics {
    pub sources: SourceMap,
    pub errors: Vec<Box<dyn SourceDiagnostic>>,
    pub warnings: Vec<Box<dyn SourceDiagnostic>>,
}

/// One line per diagnostic, warnings first (`file:line:col: severity[code]:
/// message`, then the hint), for panics in tests and tools; people get the
/// rendered form.
impl fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.warnings.iter().chain(&self.errors) {
            write!(f, "{}", self.sources.get(d.file()).name)?;
            if let Some(label) = d.labels().and_then(|mut labels| labels.next()) {
                let at = Span::new(d.file(), label.offset(), label.offset());
                let (line, col) = self.sources.line_col(at);
                write!(f, ":{line}:{col}")?;
            }
            let severity = match d.severity() {
                Some(miette::Severity::Warning) => "warning",
                Some(miette::Severity::Advice) => "advice",
                _ => "error",
            };
            write!(f, ": {severity}")?;
            if let Some(code) = d.code() {
                write!(f, "[{code}]")?;
            }
            writeln!(f, ": {d}")?;
            if let Some(help) = d.help() {
                writeln!(f, "  help: {help}")?;
            }
        }
        Ok(())
    }
}

impl Diagnostics {
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty() && self.warnings.is_empty()
    }
}

/// A compiled program and the warnings about it.
pub struct Loaded {
    pub plan: Plan,
    pub warnings: Diagnostics,
}

/// Read, preprocess, parse and compile a program file.
pub fn load_file(path: &Path, options: &ParseOptions) -> Result<Loaded, Diagnostics> {
    let mut sources = SourceMap::new();
    let parsed = trellis_syntax::parse_file(path, options, &mut sources);
    finish(parsed, sources)
}

/// [`load_file`], with `library` (name, text) programs appended to it, as
/// if included at its end (`trellis run --provenance` adds the why rules).
pub fn load_file_with(
    path: &Path,
    options: &ParseOptions,
    library: &[(&str, &str)],
) -> Result<Loaded, Diagnostics> {
    let mut sources = SourceMap::new();
    let mut parsed = trellis_syntax::parse_file(path, options, &mut sources);
    for (name, text) in library {
        parsed = match (
            parsed,
            trellis_syntax::parse_str(name, text, options, &mut sources),
        ) {
            (Ok(mut p), Ok(lib)) => {
                p.program.statements.extend(lib.program.statements);
                p.warnings.extend(lib.warnings);
                Ok(p)
            }
            (Err(mut e), Err(lib)) => {
                e.extend(lib);
                Err(e)
            }
            (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        };
    }
    finish(parsed, sources)
}

/// The same for a program held in memory (`name` is shown in diagnostics).
pub fn load_str(name: &str, text: &str, options: &ParseOptions) -> Result<Loaded, Diagnostics> {
    let mut sources = SourceMap::new();
    let parsed = trellis_syntax::parse_str(name, text, options, &mut sources);
    finish(parsed, sources)
}

fn finish(
    parsed: Result<trellis_syntax::Parsed, Vec<trellis_syntax::SyntaxError>>,
    sources: SourceMap,
) -> Result<Loaded, Diagnostics> {
    let boxed = |v: Vec<_>| -> Vec<Box<dyn SourceDiagnostic>> {
        v.into_iter()
            .map(|e| Box::new(e) as Box<dyn SourceDiagnostic>)
            .collect()
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(errors) => {
            return Err(Diagnostics {
                sources,
                errors: boxed(errors),
                warnings: Vec::new(),
            });
        }
    };
    let mut warnings: Vec<Box<dyn SourceDiagnostic>> = boxed(parsed.warnings);
    match compile(&parsed.program, &sources) {
        Ok(compiled) => {
            warnings.extend(
                compiled
                    .warnings
                    .into_iter()
                    .map(|e| Box::new(e) as Box<dyn SourceDiagnostic>),
            );
            Ok(Loaded {
                plan: compiled.plan,
                warnings: Diagnostics {
                    sources,
                    errors: Vec::new(),
                    warnings,
                },
            })
        }
        Err(failure) => {
            warnings.extend(
                failure
                    .warnings
                    .into_iter()
                    .map(|e| Box::new(e) as Box<dyn SourceDiagnostic>),
            );
            Err(Diagnostics {
                sources,
                errors: failure
                    .errors
                    .into_iter()
                    .map(|e| Box::new(e) as Box<dyn SourceDiagnostic>)
                    .collect(),
                warnings,
            })
        }
    }
}
