//! The compiled plan: data, not code. The engine interprets it; `explain`
//! and `graph` print it. Indices (`RelId`, `VarId`, ...) are positions in the
//! vectors of [`Plan`] and [`RulePlan`].

use std::collections::BTreeMap;

pub use trellis_syntax::ast::{Channel, Semantics};

use trellis_syntax::Span;
pub use trellis_value::Lattice;
use trellis_value::{BinaryOp, Builtin, UnaryOp, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelId(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleId(pub u32);

/// A register of a rule's binding vector.
pub type VarId = u32;

/// A secondary index of a table: the (0-based) columns it is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexId(pub u32);

/// A compiled program, shared by every node that runs it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub relations: Vec<Relation>,
    pub by_name: BTreeMap<String, RelId>,
    /// Rules in program order (generated localization stages follow the rule
    /// they come from).
    pub rules: Vec<RulePlan>,
    /// Rule ids per stratum, in program order.
    pub strata: Vec<Vec<RuleId>>,
    pub facts: Vec<FactPlan>,
    /// Distinct `periodic` timers: (period, count) pairs.
    pub timers: Vec<Timer>,
    /// Names the engine must resolve per node (`LOCALADDRESS`, ...).
    pub node_params: Vec<String>,
    /// How nodes execute it: the program's `semantics(...)` statement,
    /// which a driver may override (`--semantics`).
    pub semantics: Semantics,
}

impl Plan {
    pub fn relation(&self, id: RelId) -> &Relation {
        &self.relations[id.0 as usize]
    }

    pub fn rule(&self, id: RuleId) -> &RulePlan {
        &self.rules[id.0 as usize]
    }

    pub fn lookup(&self, name: &str) -> Option<RelId> {
        self.by_name.get(name).copied()
    }
}

#[derive(Debug, Clone)]
pub struct Relation {
    pub name: String,
    pub arity: usize,
    pub kind: RelationKind,
    /// Watch modes, when watched.
    pub watch: Option<WatchModes>,
    /// The transport its tuples travel on when the program declares one
    /// (`channel(name, tcp).`); otherwise the run's.
    pub channel: Option<Channel>,
    /// Made by the localization rewrite, not written by the user.
    pub generated: bool,
    /// Named only by `watch`: no rule or fact fixes its arity, so tuples of
    /// any number of fields are kept for the watch (as P2 does).
    pub watch_only: bool,
    /// Secondary indexes the rule strands need, each a sorted column list.
    pub indexes: Vec<Vec<usize>>,
    /// Within-tick stratum of an event relation (0 for tables).
    pub stratum: usize,
    pub span: Option<Span>,
    /// Its derivations are recorded (docs/language.md §6; see
    /// [`Plan::trace`]).
    pub traced: bool,
}

impl Relation {
    /// Whether a tuple of `fields` fields belongs to this relation.
    pub fn fits(&self, fields: usize) -> bool {
        self.watch_only || self.arity == fields
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RelationKind {
    Table(TableSpec),
    Event,
    /// The built-in `periodic(@N, E, Period[, Count])`.
    Periodic,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableSpec {
    /// Lifetime in nanoseconds; `None` is infinity.
    pub lifetime_nanos: Option<u64>,
    /// `None` is infinity.
    pub max_size: Option<usize>,
    /// Primary key columns, 0-based, sorted.
    pub key: Vec<usize>,
    /// Lattice columns (0-based, sorted, never a key column): a write
    /// merges into the stored row's value instead of replacing it
    /// (`lattice(name, position, kind).`).
    pub lattices: Vec<(usize, Lattice)>,
}

impl TableSpec {
    /// The lattice of column `column`, if it is one.
    pub fn lattice(&self, column: usize) -> Option<&Lattice> {
        self.lattices
            .iter()
            .find(|(c, _)| *c == column)
            .map(|(_, l)| l)
    }

    /// Every field outside the key is a lattice: a write never replaces
    /// anything, it only merges.
    pub fn merges_only(&self, arity: usize) -> bool {
        !self.lattices.is_empty() && self.key.len() + self.lattices.len() == arity
    }
}

/// Which happenings a watch prints (`watchmod` letters, P2's meanings:
/// docs/language.md, "Watches").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WatchModes {
    /// A row written to the table that was not there (`i`).
    pub insert: bool,
    /// A row written again, unchanged (`r`).
    pub refresh: bool,
    /// A row gone: deleted, expired, evicted (`d`).
    pub delete: bool,
    /// An event in the tick (`e`; `p` for `periodic`).
    pub event: bool,
    pub send: bool,
    /// A tuple received from another node or injected (`c`).
    pub receive: bool,
    /// A row about to be written, whatever comes of it (`a`).
    pub add: bool,
    /// A delete about to be applied, whether or not the row is there (`z`).
    pub remove: bool,
}

impl WatchModes {
    /// What `watch(name)`, `watchmod(name, "")` and `--watch` print: every
    /// happening once, after it happened. The "about to" letters `a` and
    /// `z` repeat inserts and deletes, so they are printed only when asked
    /// for by letter.
    pub const PLAIN: WatchModes = WatchModes {
        insert: true,
        refresh: true,
        delete: true,
        event: true,
        send: true,
        receive: true,
        add: false,
        remove: false,
    };

    /// Both watches' happenings.
    pub fn union(self, other: WatchModes) -> WatchModes {
        WatchModes {
            insert: self.insert || other.insert,
            refresh: self.refresh || other.refresh,
            delete: self.delete || other.delete,
            event: self.event || other.event,
            send: self.send || other.send,
            receive: self.receive || other.receive,
            add: self.add || other.add,
            remove: self.remove || other.remove,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timer {
    /// Nanoseconds between firings (0: every tick at start, `count` times).
    pub period_nanos: u64,
    /// Firings in all; 0 is forever.
    pub count: u64,
    pub period: Value,
    pub count_value: Option<Value>,
}

#[derive(Debug, Clone)]
pub struct FactPlan {
    pub relation: RelId,
    pub fields: Vec<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub struct RulePlan {
    pub id: RuleId,
    /// The user's name, or a generated one (`rule_L12`, `sb1_loc2`, `r2#2`).
    pub name: String,
    /// The rule as written, for messages (`sb1`), when generated by
    /// localization.
    pub origin: Option<String>,
    pub stratum: usize,
    pub var_names: Vec<String>,
    pub body: Vec<BodyAtom>,
    /// One strand per way the rule can be triggered.
    pub strands: Vec<Strand>,
    /// For a rule with events and tables: the body evaluated from each of
    /// its tables, events joined after them (why-not questions ask a node
    /// between ticks, when it holds no events). Never run by ticks.
    pub why_not: Vec<Strand>,
    pub head: Head,
    pub span: Span,
    /// A localization stage that ships into a generated table
    /// (docs/language.md §5.7): when a row of a table its body reads is
    /// deleted or evicted, its strands run over that row once more and ship
    /// deletes of what it made.
    pub retract: bool,
}

#[derive(Debug, Clone)]
pub struct BodyAtom {
    pub relation: RelId,
    pub negated: bool,
}

/// How one column of a tuple meets the rule's bindings.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// First occurrence: store the column in the register.
    Bind(VarId),
    /// Already bound: the column must equal the register (structurally).
    Check(VarId),
    /// The column must equal this constant (structurally).
    Const(Value),
    /// The column must equal the node's parameter.
    Param(u32),
    /// `_`: anything.
    Any,
}

/// Which rows of a relation a step reads, for semi-naive evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    /// Everything visible in this tick.
    All,
    /// Table rows that are not deltas of this tick, or events that arrived
    /// before the current fixpoint iteration.
    Old,
}

#[derive(Debug, Clone)]
pub struct Strand {
    /// The body atom whose new tuples drive this strand; `None` for an
    /// aggregate's full evaluation.
    pub trigger: Option<usize>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone)]
pub enum Step {
    /// Iterate the new tuples of the trigger atom (or all tuples when this is
    /// an aggregate's full evaluation), matching the pattern.
    Scan {
        atom: usize,
        rows: Rows,
        pattern: Vec<Field>,
    },
    /// Look up matching tuples of a body atom through an index keyed on the
    /// bound columns (`None`: scan).
    Join {
        atom: usize,
        index: Option<IndexId>,
        /// Values for the index columns, in the index's column order.
        key: Vec<Expr>,
        rows: Rows,
        pattern: Vec<Field>,
    },
    /// Continue only if no tuple matches.
    NotIn {
        atom: usize,
        index: Option<IndexId>,
        key: Vec<Expr>,
        pattern: Vec<Field>,
    },
    Filter(Expr),
    Assign(VarId, Expr),
    /// Aggregate rules: the group is triggered once its key is known, even if
    /// the rest of the join is empty (docs/language.md §5.4).
    MarkGroup,
}

#[derive(Debug, Clone)]
pub struct Head {
    pub relation: RelId,
    pub fields: Vec<Expr>,
    pub aggregate: Option<Aggregate>,
    pub route: Route,
    pub delete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Same location as the body: an insert or delete of a local table,
    /// applied at the end of the tick.
    LocalTable,
    /// Same location as the body: an event of this tick.
    LocalEvent,
    /// Another location (maybe this node): sent at the end of the tick.
    Send,
}

#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Head field position holding the aggregate.
    pub position: usize,
    pub function: AggregateFn,
    /// The aggregated variable; `None` for `count<*>`.
    pub var: Option<VarId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFn {
    Min,
    Max,
    Count,
    Sum,
    Avg,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Var(VarId),
    Const(Value),
    Param(u32),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// Short-circuit `&&`.
    And(Box<Expr>, Box<Expr>),
    /// Short-circuit `||`.
    Or(Box<Expr>, Box<Expr>),
    Call(Function, Vec<Expr>),
    In {
        value: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        low_closed: bool,
        high_closed: bool,
    },
}

/// A built-in function, printed by name.
#[derive(Clone, Copy)]
pub struct Function(pub &'static Builtin);

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.name)
    }
}
