//! The abstract syntax of an OverLog program, after preprocessing.
//!
//! Every node carries a [`Span`] that points into the user's own file (or the
//! command line, for `-D` values), so that the planner's diagnostics can point
//! at what the user wrote even after macro substitution and `#include`.

pub use trellis_value::Lattice;
use trellis_value::Value;
pub use trellis_value::{BinaryOp, UnaryOp};

use crate::source::Span;

/// A whole program: its statements in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Materialize(Materialize),
    Watch(Watch),
    Trace(Trace),
    Channel(ChannelDecl),
    External(External),
    Lattice(LatticeDecl),
    Semantics(SemanticsDecl),
    Fact(Fact),
    Rule(Rule),
}

/// An identifier with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// `materialize(name, lifetime, max_size, keys(k1, ...))`.
#[derive(Debug, Clone, PartialEq)]
pub struct Materialize {
    pub name: Ident,
    pub lifetime: Lifetime,
    pub lifetime_span: Span,
    pub max_size: MaxSize,
    pub max_size_span: Span,
    /// 1-based field positions, as written (type tags such as `:int32` dropped).
    /// Empty when the program wrote `keys()`; `None` when no `keys(...)` was given.
    pub keys: Option<Vec<KeyField>>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lifetime {
    Infinite,
    /// Seconds, as written (integer or float literal). Validated by the planner.
    Seconds(f64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxSize {
    Infinite,
    /// As written; validated by the planner (must be a positive integer).
    Count(i64),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyField {
    /// As written (1-based). Validated by the planner against the arity.
    pub position: i64,
    pub span: Span,
}

/// `watch(name)` or `watchmod(name, "letters")`.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    pub relation: Ident,
    /// `None` for plain `watch`: every kind of event is printed.
    pub modes: Option<(String, Span)>,
    pub span: Span,
}

/// `channel(name, udp|tcp)`: the transport a relation's tuples travel on.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelDecl {
    pub relation: Ident,
    pub channel: Channel,
    pub channel_span: Span,
    pub span: Span,
}

/// `semantics(p2).` or `semantics(tick).`: how the program is executed.
#[derive(Debug, Clone, PartialEq)]
pub struct SemanticsDecl {
    pub semantics: Semantics,
    pub semantics_span: Span,
    pub span: Span,
}

/// How a node runs a program (docs/language.md §5 and "P2 compatibility").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Semantics {
    /// Ticks: a node's inputs are taken as a set, derived tuples are sets,
    /// strata run to a fixpoint (the default).
    #[default]
    Tick,
    /// P2's event-at-a-time execution: one input per fixpoint, each event
    /// through the rules on its own, aggregates per event.
    P2,
}

impl Semantics {
    pub fn as_str(self) -> &'static str {
        match self {
            Semantics::Tick => "tick",
            Semantics::P2 => "p2",
        }
    }

    /// The semantics named `name` (`tick` or `p2`).
    pub fn from_name(name: &str) -> Option<Semantics> {
        match name {
            "tick" => Some(Semantics::Tick),
            "p2" => Some(Semantics::P2),
            _ => None,
        }
    }
}

impl std::fmt::Display for Semantics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport, in Lampson's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Channel {
    /// `udp`: unreliable: may lose, duplicate and reorder.
    Udp,
    /// `tcp`: reliable and FIFO while a connection is up.
    Tcp,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Udp => "udp",
            Channel::Tcp => "tcp",
        }
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `trace(name)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    pub relation: Ident,
    pub span: Span,
}

/// `external(name)`: tuples of `name` come from outside the program
/// (`--fact`, `trellis inject`, a scenario), so no rule deriving it is
/// expected. Optional: it only silences the `never_derived` warning.
#[derive(Debug, Clone, PartialEq)]
pub struct External {
    pub relation: Ident,
    pub span: Span,
}

/// `lattice(name, position, kind).`: writes into column `position` of
/// table `name` merge with the stored value by `kind` (an extension).
#[derive(Debug, Clone, PartialEq)]
pub struct LatticeDecl {
    pub relation: Ident,
    /// 1-based, as written; validated by the planner.
    pub position: i64,
    pub position_span: Span,
    pub lattice: Lattice,
    pub lattice_span: Span,
    pub span: Span,
}

/// A ground tuple: `node(LOCALADDRESS, "x").`
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    pub atom: Atom,
    pub span: Span,
}

/// `[name] [delete] head :- body.`
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: Option<Ident>,
    /// Span of the `delete` keyword when present.
    pub delete: Option<Span>,
    pub head: Atom,
    pub body: Vec<BodyElem>,
    pub span: Span,
}

/// `name(@L, e1, ...)` or `name@L(L, e1, ...)`. The first argument is the
/// location. Body atoms hold only variables, constants and `_`; the parser
/// enforces that. Head atoms may hold any expression and one aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct Atom {
    pub relation: Ident,
    pub args: Vec<Expr>,
    /// How the location was written.
    pub location_style: LocationStyle,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocationStyle {
    /// `p(@X, ...)`
    At,
    /// `p@X(X, ...)` (SOSP 2005 style); the parser checks the two agree.
    Suffix,
    /// `p(X, ...)`: no `@` written; the first field is still the location.
    Plain,
}

#[derive(Debug, Clone, PartialEq)]
pub enum BodyElem {
    Atom(Atom),
    /// `notin p(...)`; the span covers the keyword and the atom.
    NotIn(Atom, Span),
    /// `X := expr`
    Assign(Assign),
    /// Any boolean expression.
    Condition(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assign {
    pub var: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

impl Expr {
    /// Every sub-expression, this one first, depth first, left to right.
    pub fn subexpressions(&self) -> Vec<&Expr> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            match &e.kind {
                ExprKind::Unary(_, a) => stack.push(a),
                ExprKind::Binary(_, a, b) => stack.extend([&**b, &**a]),
                ExprKind::Call(_, args) => stack.extend(args.iter().rev()),
                ExprKind::In {
                    value, low, high, ..
                } => stack.extend([&**high, &**low, &**value]),
                ExprKind::Var(_)
                | ExprKind::Wildcard
                | ExprKind::Literal(_)
                | ExprKind::NodeParam(_)
                | ExprKind::Aggregate(..) => {}
            }
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// A variable (upper-case or `_`-prefixed identifier, not `_` alone).
    Var(String),
    /// `_` alone: a fresh anonymous variable.
    Wildcard,
    /// A literal constant (after macro expansion).
    Literal(Value),
    /// A per-node parameter resolved by the engine from the node's
    /// configuration: `LOCALADDRESS`, and names the driver declares as
    /// per-node (e.g. `NODEID` in a simulation).
    NodeParam(String),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `f_name(args)`
    Call(Ident, Vec<Expr>),
    /// `X in (A, B]` and the other bracket forms.
    In {
        value: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        low_closed: bool,
        high_closed: bool,
    },
    /// `min<X>`, `count<*>`, `a_MIN<X>`: only valid as a head field.
    Aggregate(AggregateKind, Option<Ident>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateKind {
    Min,
    Max,
    Count,
    Sum,
    Avg,
}
