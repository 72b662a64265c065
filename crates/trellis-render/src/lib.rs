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

/// The most columns of a source line shown: longer lines are clipped to a
/// window around the label, with `…` where they are cut.
const MAX_COLUMNS: usize = 200;

/// Render one diagnostic with its source lines.
pub fn render(sources: &SourceMap, diagnostic: &dyn SourceDiagnostic, style: Style) -> String {
    let file = sources.get(diagnostic.file());
    let labels: Vec<LabeledSpan> = diagnostic.labels().map(|l| l.collect()).unwrap_or_default();
    let theme = match style {
        Style::Color => GraphicalTheme::unicode(),
        Style::Plain => GraphicalTheme::unicode_nocolor(),
    };
    let mut handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let with_source = match clip(&file.text, &labels) {
        None => WithSource {
            inner: diagnostic,
            source: NamedSource::new(file.name.clone(), file.text.to_string()),
            labels: None,
        },
        Some(clipped) => {
            // miette would count the header's column in the clipped text:
            // name the place in the original instead.
            handler = handler.without_primary_span_start();
            let name = match primary(&labels) {
                Some(label) => {
                    let (line, column) = line_column(&file.text, label.offset());
                    format!("{}:{line}:{column}", file.name)
                }
                None => file.name.clone(),
            };
            WithSource {
                inner: diagnostic,
                source: NamedSource::new(name, clipped.text),
                labels: Some(clipped.labels),
            }
        }
    };
    let mut out = String::new();
    // Writing to a String cannot fail.
    handler
        .render_report(&mut out, &with_source)
        .expect("rendering to a String");
    out
}

/// The label miette takes for the header's place.
fn primary(labels: &[LabeledSpan]) -> Option<&LabeledSpan> {
    labels.iter().find(|l| l.primary()).or(labels.first())
}

/// 1-based line and (byte) column of `offset`, as miette counts them.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// A source whose long lines are cut down, and the labels moved onto it.
#[derive(Debug)]
struct Clipped {
    text: String,
    labels: Vec<LabeledSpan>,
}

/// Clip every line longer than [`MAX_COLUMNS`] to a window around the
/// first label on it (or its start); `None` when no line is that long.
/// miette panics formatting a caret tens of thousands of columns out, and
/// such a line would be unreadable anyway.
fn clip(text: &str, labels: &[LabeledSpan]) -> Option<Clipped> {
    if !text.lines().any(|l| l.chars().nth(MAX_COLUMNS).is_some()) {
        return None;
    }
    // Kept pieces of the original: (original start, original end, new start).
    let mut pieces: Vec<(usize, usize, usize)> = Vec::new();
    let mut out = String::with_capacity(text.len().min(1 << 16));
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let end = start + body.len();
        let chars: Vec<usize> = body.char_indices().map(|(i, _)| start + i).collect();
        if chars.len() <= MAX_COLUMNS {
            pieces.push((start, start + line.len(), out.len()));
            out.push_str(line);
        } else {
            let anchor = labels
                .iter()
                .map(|l| l.offset())
                .filter(|&o| (start..=end).contains(&o))
                .min()
                .unwrap_or(start);
            let anchor_char = chars.partition_point(|&i| i < anchor);
            let to = (anchor_char.saturating_sub(MAX_COLUMNS / 2) + MAX_COLUMNS).min(chars.len());
            let from = to - MAX_COLUMNS;
            let (from_byte, to_byte) = (chars[from], chars.get(to).copied().unwrap_or(end));
            if from > 0 {
                out.push('…');
            }
            pieces.push((from_byte, to_byte, out.len()));
            out.push_str(&text[from_byte..to_byte]);
            if to < chars.len() {
                out.push('…');
            }
            pieces.push((end, start + line.len(), out.len()));
            out.push_str(&line[body.len()..]);
        }
        start += line.len();
    }
    // An offset in a kept piece moves with it; one in a cut is clamped to
    // the end of the piece before it.
    let map = |offset: usize| -> usize {
        let i = pieces.partition_point(|p| p.0 <= offset);
        match i.checked_sub(1).map(|i| pieces[i]) {
            Some((from, to, new)) => new + offset.min(to) - from,
            None => 0,
        }
    };
    let labels = labels
        .iter()
        .map(|l| {
            let from = map(l.offset());
            let to = map(l.offset() + l.len()).max(from);
            let span = miette::SourceSpan::from((from, to - from));
            if l.primary() {
                LabeledSpan::new_primary_with_span(l.label().map(String::from), span)
            } else {
                LabeledSpan::new_with_span(l.label().map(String::from), span)
            }
        })
        .collect();
    Some(Clipped { text: out, labels })
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
    /// The labels moved onto a clipped source, if it is.
    labels: Option<Vec<LabeledSpan>>,
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
        match &self.labels {
            Some(labels) => Some(Box::new(labels.iter().cloned())),
            None => self.inner.labels(),
        }
    }
    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(&self.source)
    }
}
