//! Diagnostics as data. Every error type of the front end and the planner
//! implements [`SourceDiagnostic`]: a miette diagnostic (code, message,
//! labels, hint) whose labels all point into one file of the [`SourceMap`].
//! Rendering them for people is the `trellis-render` crate's job.
//!
//! [`SourceMap`]: crate::SourceMap

use miette::Diagnostic;

use crate::source::FileId;

/// A diagnostic about a program whose labels point into one source file.
pub trait SourceDiagnostic: Diagnostic + Send + Sync + 'static {
    /// The file the labels point into.
    fn file(&self) -> FileId;
}
