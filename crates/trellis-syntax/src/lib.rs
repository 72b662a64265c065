//! The OverLog front end: preprocessor (`#define`, `#include`, `#ifdef`,
//! `-D` overrides), lexer, parser and AST. Spans survive preprocessing, so
//! every diagnostic points at the user's own file and line.

pub mod ast;
pub mod diagnostic;
pub mod source;

mod error;
mod ground;
mod lexer;
mod parser;
mod pattern;
mod preprocess;

pub use diagnostic::SourceDiagnostic;
pub use error::SyntaxError;
pub use ground::{GroundError, GroundField, GroundTuple, parse_ground};
pub use source::{FileId, SourceFile, SourceMap, Span};

pub use parser::{Parsed, parse_file, parse_str};
pub use pattern::{Pattern, PatternError, PatternField, parse_pattern};
pub use preprocess::{MAX_INCLUDE_BYTES, ParseOptions};
