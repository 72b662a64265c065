//! One call from a file (or text) to a plan, with every diagnostic from the
//! front end and the planner, ready to render.

use std::path::Path;

use trellis_syntax::{ParseOptions, SourceDiagnostic, SourceMap, Style, render};

use crate::compile::compile;
use crate::plan::Plan;

/// Diagnostics with the sources they point into.
pub struct Diagnostics {
    pub sources: SourceMap,
    pub errors: Vec<Box<dyn SourceDiagnostic>>,
    pub warnings: Vec<Box<dyn SourceDiagnostic>>,
}

impl std::fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.render(Style::Plain))
    }
}

impl Diagnostics {
    /// Every diagnostic, warnings first, rustc-style, with a closing count.
    pub fn render(&self, style: Style) -> String {
        let mut out = String::new();
        for d in self.warnings.iter().chain(&self.errors) {
            out.push_str(&render(&self.sources, d.as_ref(), style));
        }
        if !self.errors.is_empty() {
            let n = self.errors.len();
            out.push_str(&format!(
                "error: could not compile the program due to {n} previous error{}\n",
                if n == 1 { "" } else { "s" }
            ));
        }
        out
    }

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
