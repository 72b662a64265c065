//! Planner diagnostics: each variant says what is wrong, points at it, and
//! says what to do.

use miette::Diagnostic;
use thiserror::Error;
use trellis_syntax::{FileId, SourceDiagnostic, Span};

use crate::{Channel, Semantics};

#[derive(Debug, Clone, Error, Diagnostic)]
pub enum PlanError {
    #[error(
        "relation `{relation}` is used with {found} fields here but with {expected} fields {first}"
    )]
    #[diagnostic(
        code(trellis::plan::arity),
        help(
            "every use of a relation (rules, facts, materialize keys) must have the same number of fields"
        )
    )]
    Arity {
        relation: String,
        expected: usize,
        found: usize,
        /// Where the first use is, in words (`at chord.olg:12:3`).
        first: String,
        #[label("{found} fields")]
        span: Span,
    },

    #[error("variable `{var}` in the head is not bound by the body")]
    #[diagnostic(
        code(trellis::plan::unsafe_head),
        help("bind `{var}` in a positive body predicate or with `{var} := ...`")
    )]
    UnboundHead {
        var: String,
        #[label("unbound")]
        span: Span,
    },

    #[error("variable `{var}` in a condition is not bound by the body")]
    #[diagnostic(
        code(trellis::plan::unsafe_condition),
        help("conditions can only test variables bound by a positive predicate or an assignment")
    )]
    UnboundCondition {
        var: String,
        #[label("unbound")]
        span: Span,
    },

    #[error("variable `{var}` in `notin` is not bound by the positive part of the body")]
    #[diagnostic(
        code(trellis::plan::unsafe_notin),
        help("bind `{var}` in a positive predicate, or write `_` if any value will do")
    )]
    UnboundNotIn {
        var: String,
        #[label("unbound")]
        span: Span,
    },

    #[error("variable `{var}` appears only inside `notin`: it matches any value, as in P2")]
    #[diagnostic(
        code(trellis::plan::notin_wildcard),
        severity(Warning),
        help("write `_` to say that any value will do, or bind `{var}` in a positive predicate")
    )]
    NotInWildcard {
        var: String,
        #[label("matches anything")]
        span: Span,
    },

    #[error("`{var}` is already bound; `:=` cannot assign it again")]
    #[diagnostic(
        code(trellis::plan::reassigned),
        help("use a new variable name, or test equality with `{var} == ...`")
    )]
    Reassigned {
        var: String,
        #[label("already bound")]
        span: Span,
    },

    #[error("the location `{location}` of this predicate is not bound by what comes before it")]
    #[diagnostic(
        code(trellis::plan::unbound_location),
        help(
            "a rule that reads several nodes is evaluated left to right: bind `{location}` in a predicate at an earlier location"
        )
    )]
    UnboundLocation {
        location: String,
        #[label("read at an unknown node")]
        span: Span,
    },

    #[error(
        "the location of a predicate must be a variable, a string constant or a node parameter"
    )]
    #[diagnostic(
        code(trellis::plan::bad_location),
        help("write the node address as the first field, e.g. `p(@N, ...)`")
    )]
    BadLocation {
        #[label("not a location")]
        span: Span,
    },

    #[error("unknown function `{name}`")]
    #[diagnostic(code(trellis::plan::unknown_function), help("{hint}"))]
    UnknownFunction {
        name: String,
        hint: String,
        #[label("not a built-in function")]
        span: Span,
    },

    #[error("`{name}` takes {expected} but is given {given}")]
    #[diagnostic(code(trellis::plan::function_arity), help("{name}: {summary}"))]
    FunctionArity {
        name: String,
        expected: String,
        /// "1 argument", "3 arguments".
        given: String,
        summary: String,
        #[label("{given}")]
        span: Span,
    },

    #[error("a head may hold at most one aggregate")]
    #[diagnostic(
        code(trellis::plan::multiple_aggregates),
        help("split the rule in two, one aggregate each, and join the results")
    )]
    MultipleAggregates {
        #[label("second aggregate")]
        span: Span,
    },

    #[error("only `min<X>` or `max<X>` can be the location of a head")]
    #[diagnostic(
        code(trellis::plan::aggregate_location),
        help(
            "the first field says where the result goes: an address; pick one with min<X> or max<X>, or aggregate another field"
        )
    )]
    AggregateLocation {
        #[label("aggregate in the location field")]
        span: Span,
    },

    #[error("a `delete` rule cannot aggregate")]
    #[diagnostic(
        code(trellis::plan::aggregate_delete),
        help("compute the aggregate into an event first, then delete from it")
    )]
    AggregateDelete {
        #[label("aggregate in a delete rule")]
        span: Span,
    },

    #[error("`delete` applies to materialized tables, and `{relation}` is an event")]
    #[diagnostic(
        code(trellis::plan::delete_event),
        help("declare it with `materialize({relation}, ...)`, or drop `delete`")
    )]
    DeleteEvent {
        relation: String,
        #[label("not a table")]
        span: Span,
    },

    #[error("`_` cannot appear in a head")]
    #[diagnostic(
        code(trellis::plan::wildcard_head),
        help("a derived tuple needs a value in every field")
    )]
    WildcardHead {
        #[label("no value")]
        span: Span,
    },

    #[error("rule body has no positive predicate")]
    #[diagnostic(
        code(trellis::plan::no_predicate),
        help(
            "a rule fires when a tuple arrives: add an event or a table, e.g. `periodic(@N, E, 1)`"
        )
    )]
    NoPredicate {
        #[label("nothing triggers this rule")]
        span: Span,
    },

    #[error("cycle through {through} within a tick: {cycle}")]
    #[diagnostic(
        code(trellis::plan::unstratifiable),
        help(
            "an aggregate or `notin` must not depend on its own result in the same tick; break the cycle with a table (its writes are seen in the next tick)"
        )
    )]
    Unstratifiable {
        through: String,
        cycle: String,
        #[label("this rule closes the cycle")]
        span: Span,
    },

    #[error("`{relation}` is materialized twice")]
    #[diagnostic(
        code(trellis::plan::duplicate_materialize),
        help("keep one declaration")
    )]
    DuplicateMaterialize {
        relation: String,
        #[label("second declaration")]
        span: Span,
    },

    #[error("invalid lifetime: {problem}")]
    #[diagnostic(
        code(trellis::plan::lifetime),
        help("the lifetime is a positive number of seconds, or `infinity`")
    )]
    Lifetime {
        problem: String,
        #[label("here")]
        span: Span,
    },

    #[error("invalid table size: {problem}")]
    #[diagnostic(
        code(trellis::plan::max_size),
        help("the size is a positive number of tuples, or `infinity`")
    )]
    MaxSize {
        problem: String,
        #[label("here")]
        span: Span,
    },

    #[error("key position {position} is out of range for `{relation}`, which has {arity} fields")]
    #[diagnostic(
        code(trellis::plan::key_position),
        help("key positions are 1-based field numbers; the location is field 1")
    )]
    KeyPosition {
        relation: String,
        position: i64,
        arity: usize,
        #[label("no such field")]
        span: Span,
    },

    #[error("`{relation}` is built in and cannot be {what}")]
    #[diagnostic(
        code(trellis::plan::builtin_relation),
        help("`periodic` is the node's timer: rules read it, nothing else; use another name")
    )]
    BuiltinRelation {
        relation: String,
        what: &'static str,
        #[label("here")]
        span: Span,
    },

    #[error("`periodic` takes (@Node, Event, Period) or (@Node, Event, Period, Count): {problem}")]
    #[diagnostic(
        code(trellis::plan::periodic),
        help(
            "Period is a number of seconds written as a constant, Count a non-negative integer; e.g. `periodic(@N, E, 5)`"
        )
    )]
    Periodic {
        problem: String,
        #[label("here")]
        span: Span,
    },

    #[error("an aggregate's variable `{var}` is not bound by the body")]
    #[diagnostic(
        code(trellis::plan::aggregate_unbound),
        help("aggregate a variable that a body predicate or assignment binds")
    )]
    AggregateUnbound {
        var: String,
        #[label("unbound")]
        span: Span,
    },

    // ---- warnings ----
    #[error("rule name `{name}` is used again; this rule is renamed `{renamed}`")]
    #[diagnostic(
        code(trellis::plan::duplicate_rule_name),
        severity(Warning),
        help("give each rule its own name so traces and errors can tell them apart")
    )]
    DuplicateRuleName {
        name: String,
        renamed: String,
        #[label("duplicate name")]
        span: Span,
    },

    #[error("`{relation}` is never derived: no rule, fact or table produces it")]
    #[diagnostic(code(trellis::plan::never_derived), severity(Warning), help("{hint}"))]
    NeverDerived {
        relation: String,
        hint: String,
        #[label("only read here")]
        span: Span,
    },

    #[error("`{relation}` is watched but no rule or fact uses it")]
    #[diagnostic(
        code(trellis::plan::watch_unknown),
        severity(Warning),
        help(
            "check the spelling of the relation name; a `watch` prints what arrives of it, as in P2"
        )
    )]
    WatchUnknown {
        relation: String,
        #[label("no rule or fact names it")]
        span: Span,
    },

    #[error("watch letter `p` shows the firings of `periodic`; `{relation}` has none")]
    #[diagnostic(
        code(trellis::plan::watch_periodic_letter),
        severity(Warning),
        help(
            "write `watchmod(periodic, \"p\")` to see timers fire; `e` shows `{relation}`'s events"
        )
    )]
    WatchPeriodicLetter {
        relation: String,
        #[label("`p` here")]
        span: Span,
    },

    #[error("`{relation}` is declared external but no rule or fact uses it")]
    #[diagnostic(
        code(trellis::plan::external_unknown),
        severity(Warning),
        help("check the spelling of the relation name")
    )]
    ExternalUnknown {
        relation: String,
        #[label("no such relation")]
        span: Span,
    },

    #[error("a channel for `{relation}`, which no rule or fact uses")]
    #[diagnostic(
        code(trellis::plan::channel_unknown),
        help("declare the channel of a relation the program sends; check the spelling")
    )]
    ChannelUnknown {
        relation: String,
        #[label("no such relation")]
        span: Span,
    },

    #[error("`{relation}` already has channel `{earlier}`")]
    #[diagnostic(
        code(trellis::plan::channel_conflict),
        help("a relation travels on one transport; keep one `channel` declaration")
    )]
    ChannelConflict {
        relation: String,
        earlier: Channel,
        #[label("a different channel")]
        span: Span,
    },

    #[error("a lattice for `{relation}`, which is not a table")]
    #[diagnostic(code(trellis::plan::lattice_not_table), help("{hint}"))]
    LatticeNotTable {
        relation: String,
        hint: String,
        #[label("not materialized")]
        span: Span,
    },

    #[error(
        "lattice position {position} is out of range for `{relation}`, which has {arity} fields"
    )]
    #[diagnostic(
        code(trellis::plan::lattice_position),
        help("positions are 1-based field numbers, as in `keys(...)`; the location is field 1")
    )]
    LatticePosition {
        relation: String,
        position: i64,
        arity: usize,
        #[label("no such field")]
        span: Span,
    },

    #[error(
        "field {position} of `{relation}` is its location or part of its key, and cannot be a lattice"
    )]
    #[diagnostic(code(trellis::plan::lattice_on_key), help("{hint}"))]
    LatticeOnKey {
        relation: String,
        position: i64,
        hint: String,
        #[label("the location or a key field")]
        span: Span,
    },

    #[error("field {position} of `{relation}` is already a `{earlier}` lattice")]
    #[diagnostic(
        code(trellis::plan::lattice_conflict),
        help("a column merges one way; keep one `lattice` declaration for it")
    )]
    LatticeConflict {
        relation: String,
        position: i64,
        earlier: trellis_value::Lattice,
        #[label("a different lattice")]
        span: Span,
    },

    #[error("this value cannot go into `{relation}`'s `{lattice}` column {position}")]
    #[diagnostic(code(trellis::plan::lattice_value), help("{problem}"))]
    LatticeValue {
        relation: String,
        lattice: trellis_value::Lattice,
        position: usize,
        problem: String,
        #[label("not a `{lattice}` value")]
        span: Span,
    },

    #[error("the program already chose `{earlier}` semantics")]
    #[diagnostic(
        code(trellis::plan::semantics_conflict),
        help("a program runs in one semantics; keep one `semantics(...)` statement")
    )]
    SemanticsConflict {
        earlier: Semantics,
        #[label("a different semantics")]
        span: Span,
    },
}

impl PlanError {
    pub fn span(&self) -> Span {
        use PlanError::*;
        match self {
            Arity { span, .. }
            | UnboundHead { span, .. }
            | UnboundCondition { span, .. }
            | UnboundNotIn { span, .. }
            | NotInWildcard { span, .. }
            | Reassigned { span, .. }
            | UnboundLocation { span, .. }
            | BadLocation { span }
            | UnknownFunction { span, .. }
            | FunctionArity { span, .. }
            | MultipleAggregates { span }
            | AggregateLocation { span }
            | AggregateDelete { span }
            | DeleteEvent { span, .. }
            | WildcardHead { span }
            | NoPredicate { span }
            | Unstratifiable { span, .. }
            | DuplicateMaterialize { span, .. }
            | Lifetime { span, .. }
            | MaxSize { span, .. }
            | KeyPosition { span, .. }
            | BuiltinRelation { span, .. }
            | Periodic { span, .. }
            | AggregateUnbound { span, .. }
            | DuplicateRuleName { span, .. }
            | NeverDerived { span, .. }
            | WatchUnknown { span, .. }
            | WatchPeriodicLetter { span, .. }
            | ExternalUnknown { span, .. }
            | ChannelUnknown { span, .. }
            | ChannelConflict { span, .. }
            | LatticeNotTable { span, .. }
            | LatticePosition { span, .. }
            | LatticeOnKey { span, .. }
            | LatticeConflict { span, .. }
            | LatticeValue { span, .. }
            | SemanticsConflict { span, .. } => *span,
        }
    }

    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            PlanError::DuplicateRuleName { .. }
                | PlanError::NotInWildcard { .. }
                | PlanError::NeverDerived { .. }
                | PlanError::WatchUnknown { .. }
                | PlanError::WatchPeriodicLetter { .. }
                | PlanError::ExternalUnknown { .. }
        )
    }
}

impl SourceDiagnostic for PlanError {
    fn file(&self) -> FileId {
        self.span().file
    }
}
