//! The OverLog planner: resolves names, checks arities and safety,
//! rewrites multi-location rules (localization), stratifies aggregates and
//! negation, and compiles each rule into strands of dataflow steps with the
//! indexes their joins need. The [`Plan`] is data: the engine interprets it,
//! and `explain`/`graph` print it.

mod allow;
pub mod calm;
mod compile;
mod error;
mod explain;
mod load;
mod plan;
mod provenance;
mod stratify;

pub use allow::{ALL_WARNINGS, UnknownWarningKind, WARNING_KINDS, warning_kind};
pub use compile::{CompileFailure, Compiled, LOCAL_ADDRESS, PERIODIC, compile};
pub use error::PlanError;
pub use explain::{GraphFormat, explain, expr_to_string, graph};
pub use load::{Diagnostics, Loaded, load_file, load_file_with, load_str};
pub use plan::*;
pub use provenance::{
    ProvenanceLimits, RULE_EXEC, RULE_EXEC_ARITY, TUPLE_TABLE, TUPLE_TABLE_ARITY, provenance_arity,
};
