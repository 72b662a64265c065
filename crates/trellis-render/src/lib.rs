//! Rendering diagnostics rustc-style (file:line:col, the source line, a caret
//! under the cause, and a hint) with miette's graphical renderer.
//!
//! The front end and the planner keep diagnostics as data: every error type
//! implements [`SourceDiagnostic`], a miette diagnostic whose labels all
//! point into one file of the [`SourceMap`], and [`Diagnostics`] gathers a
//! program's with their sources. Only the command line (and tests) render
//! them, so the core crates do not depend on a terminal renderer.

use std::fmt;

use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, Severity,
    SourceCode,
};
use trellis_plan::Diagnostics;
use trellis_syntax::{SourceDiagnostic, SourceMap};

/// How to render: with colours for a terminal, or plain for logs and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Color,
    Plain,
}

/// Render one diagnostic with its source lines.
pub fn render(sources: &SourceMap, diagnostic: &dyn SourceDiagnostic, style: Style) -> String {
    let file = sources.get(diagnostic.file());
    let with_source = WithSource {
        inner: diagnostic,
        source: NamedSource::new(file.name.clone(), file.text.to_string()),
    };
    let theme = match style {
        Style::Color => GraphicalTheme::unicode(),
        Style::Plain => GraphicalTheme::unicode_nocolor(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    // Writing to a String cannot fail.
    handler
        .render_report(&mut out, &with_source)
        .expect("rendering to a String");
    out
}

/// Every diagnostic of a program, warnings first, rustc-style, with a
/// closing count.
pub fn render_all(diagnostics: &Diagnostics, style: Style) -> String {
    let mut out = String::new();
    for d in diagnostics.warnings.iter().chain(&diagnostics.errors) {
        out.push_str(&render(&diagnostics.sources, d.as_ref(), style));
    }
    if !diagnostics.errors.is_empty() {
        let n = diagnostics.errors.len();
        out.push_str(&format!(
            "error: could not compile the program due to {n} previous error{}\n",
            if n == 1 { "" } else { "s" }
        ));
    }
    out
}

/// A borrowed diagnostic with its source text attached.
struct WithSource<'a> {
    inner: &'a dyn SourceDiagnostic,
    source: NamedSource<String>,
}

impl fmt::Debug for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.inner, f)
    }
}

impl fmt::Display for WithSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.inner, f)
    }
}

impl std::error::Error for WithSource<'_> {}

impl Diagnostic for WithSource<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<Severity> {
        self.inner.severity()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.help()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }
}
