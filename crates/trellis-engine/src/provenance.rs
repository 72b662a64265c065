//! Provenance capture (docs/language.md §8): what each derivation of a
//! traced relation was made from.
//!
//! Identities are content hashes, specified (XXH3-64 with a fixed seed
//! over explicit little-endian bytes), so they are the same on every node
//! and in every build: a tuple's ID is the hash of its relation and
//! values, a derivation's the hash of its rule, node, output and inputs.
//! The same tuple derived twice has one ID; the same derivation made twice
//! (a rule refiring on the same inputs) has one ID too.
//!
//! While a traced rule runs, the strand pushes each body tuple it matches
//! (a borrow of the row: no copy, no hash) onto its sink's stack and pops
//! it when the match is done, so at the head the stack is exactly the
//! derivation's inputs, hashed then; they are recorded in body order,
//! whichever atom triggered the strand, so one derivation has one identity
//! whichever strand made it. Nothing of this runs for a rule that is not
//! traced.

use std::sync::Arc;

use trellis_plan::{Plan, RelId, RuleId};
use trellis_value::Value;

use crate::{Time, Tuple};

/// A tuple's identity: the hash of its relation and values.
pub type TupleId = u64;
/// A derivation's identity: the hash of its rule, node, output and inputs,
/// in [`EXEC_ID_BITS`] bits (never 0, which means "none").
pub type ExecId = u64;

/// Derivation IDs are 48 bits, so a reference takes 6 bytes on the wire.
/// Two derivations of one node collide with a chance of about n²/2^49 for
/// n derivations kept (1 in 225,000 for the default 50,000 rows); tuple IDs
/// keep all 64 bits.
pub const EXEC_ID_BITS: u32 = 48;

/// An aggregate's derivation lists at most this many of its inputs.
pub const MAX_AGGREGATE_INPUTS: usize = 256;

/// A fixed seed: identities must not change between runs or builds.
const SEED: u64 = 0x7472_656c_6c69_7370;

thread_local! {
    /// The bytes being hashed, kept from one identity to the next.
    static BYTES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Hash what `write` puts in a reused buffer.
fn hash(write: impl FnOnce(&mut Vec<u8>)) -> u64 {
    BYTES.with_borrow_mut(|buf| {
        buf.clear();
        write(buf);
        xxhash_rust::xxh3::xxh3_64_with_seed(buf, SEED)
    })
}

/// The identity of the tuple `fields` of `relation`.
pub fn tuple_id(relation: &str, fields: &[Value]) -> TupleId {
    hash(|b| {
        bytes(b, relation.as_bytes());
        b.extend_from_slice(&(fields.len() as u64).to_le_bytes());
        for v in fields {
            value(b, v);
        }
    })
}

/// The identity of a derivation by `rule` on `node` of `output` from
/// `inputs`.
pub fn exec_id(rule: &str, node: &str, output: TupleId, inputs: &[TupleId]) -> ExecId {
    let h = hash(|b| {
        bytes(b, rule.as_bytes());
        bytes(b, node.as_bytes());
        b.extend_from_slice(&output.to_le_bytes());
        b.extend_from_slice(&(inputs.len() as u64).to_le_bytes());
        for i in inputs {
            b.extend_from_slice(&i.to_le_bytes());
        }
    });
    (h & ((1 << EXEC_ID_BITS) - 1)).max(1)
}

fn bytes(b: &mut Vec<u8>, s: &[u8]) {
    b.extend_from_slice(&(s.len() as u64).to_le_bytes());
    b.extend_from_slice(s);
}

fn value(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => b.push(0),
        Value::Bool(x) => b.extend_from_slice(&[1, *x as u8]),
        Value::Int(i) => {
            b.push(2);
            b.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            b.push(3);
            b.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            b.push(4);
            bytes(b, s.as_bytes());
        }
        Value::Id(id) => {
            b.push(5);
            b.extend_from_slice(&id.0.to_le_bytes::<20>());
        }
        Value::List(items) => {
            b.push(6);
            b.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items.iter() {
                value(b, item);
            }
        }
    }
}

/// One recorded happening: a tuple of a traced relation came to be on a
/// node, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Derivation {
    pub time: Time,
    pub tick: u64,
    pub relation: RelId,
    pub tuple: Tuple,
    pub id: TupleId,
    pub cause: Cause,
}

/// How a tuple came to be on a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// A rule derived it from `inputs` (body tuples, in body order; an
    /// aggregate's inputs, at most [`MAX_AGGREGATE_INPUTS`]). `sent`: it
    /// was sent to the node its location names (`OutputNode`), rather than
    /// kept here as an event or a write.
    Rule {
        rule: RuleId,
        exec: ExecId,
        inputs: Vec<TupleId>,
        sent: bool,
    },
    /// A fact of the program.
    Fact,
    /// Injected by the user (`--fact`, `trellis inject`, a scenario).
    Injected,
    /// A `periodic` timer fired.
    Timer,
    /// Received from `from` (unknown when the driver did not say), which
    /// derived it by `exec` (none when the sender did not trace it).
    Received {
        from: Option<Arc<str>>,
        exec: Option<ExecId>,
    },
}

impl Cause {
    /// The word `tupleTable`'s `How` column uses.
    pub fn how(&self) -> &'static str {
        match self {
            Cause::Rule { .. } => "rule",
            Cause::Fact => "fact",
            Cause::Injected => "inject",
            Cause::Timer => "timer",
            Cause::Received { .. } => "recv",
        }
    }
}

/// What strands capture while a tick runs (kept by the node from tick to
/// tick; `None` in a node that traces nothing).
#[derive(Debug)]
pub(crate) struct Capture {
    /// Per rule: is it traced?
    pub traced: Vec<bool>,
    /// The node's address, part of every derivation's identity.
    pub node: Arc<str>,
    /// The rule being run is traced.
    pub on: bool,
    /// The IDs of rows and events matched this round.
    pub ids: IdCache,
    /// `ruleExec` and `tupleTable`, when the plan has them.
    pub tables: Option<(RelId, RelId)>,
    /// Derivations made this tick, in derivation order.
    pub made: Vec<Made>,
}

/// A derivation made by a rule this tick.
#[derive(Debug)]
pub(crate) struct Made {
    pub rule: RuleId,
    pub relation: RelId,
    pub tuple: Tuple,
    pub id: TupleId,
    pub exec: ExecId,
    pub inputs: Vec<TupleId>,
    pub sent: bool,
}

/// The IDs of the rows and events a round's matches read, by where their
/// fields are: rows and events do not move or change within a round (the
/// node forgets the cache at every round's start), and a round's
/// derivations read the same few rows again and again (a node's own
/// `node` row, its successor).
#[derive(Debug)]
pub(crate) struct IdCache {
    round: u32,
    /// Direct-mapped by address.
    entries: Box<[Known]>,
}

/// A tuple whose ID is known: where its fields were, in which round.
#[derive(Debug, Clone, Copy)]
struct Known {
    round: u32,
    relation: RelId,
    address: usize,
    len: usize,
    id: TupleId,
}

const ID_CACHE: usize = 256;

impl Default for IdCache {
    fn default() -> Self {
        IdCache {
            round: 1,
            entries: vec![
                Known {
                    round: 0,
                    relation: RelId(0),
                    address: 0,
                    len: 0,
                    id: 0
                };
                ID_CACHE
            ]
            .into_boxed_slice(),
        }
    }
}

impl IdCache {
    pub fn forget(&mut self) {
        self.round = self.round.wrapping_add(1).max(1);
        if self.round == 1 {
            // Wrapped around: entries of an old round 1 must not match.
            self.entries.iter_mut().for_each(|e| e.round = 0);
        }
    }

    /// The ID of `fields` of `rel`, from `id` unless known this round.
    #[inline]
    pub fn get(&mut self, rel: RelId, fields: &[Value], id: impl FnOnce() -> TupleId) -> TupleId {
        let address = fields.as_ptr() as usize;
        let slot = &mut self.entries[(address >> 5) % ID_CACHE];
        if slot.round == self.round
            && slot.relation == rel
            && slot.address == address
            && slot.len == fields.len()
        {
            return slot.id;
        }
        let id = id();
        *slot = Known {
            round: self.round,
            relation: rel,
            address,
            len: fields.len(),
            id,
        };
        id
    }
}

impl Capture {
    pub fn new(plan: &Plan, node: Arc<str>) -> Option<Capture> {
        plan.traces_anything().then(|| Capture {
            traced: plan.traced_rules(),
            node,
            on: false,
            ids: IdCache::default(),
            tables: plan.provenance_tables(),
            made: Vec::new(),
        })
    }
}

/// An identity as a value rules read (the same bits, as an integer).
pub fn id_value(id: u64) -> Value {
    Value::Int(id as i64)
}

/// What a recorded derivation was, by name: what [`rows`] needs (the
/// engine's own [`Derivation`]s, and a simulation's log read back, are
/// both turned into rows through it).
#[derive(Debug, Clone, Copy)]
pub enum RowCause<'a> {
    Rule {
        rule: &'a str,
        exec: ExecId,
        inputs: &'a [TupleId],
        sent: bool,
    },
    Received {
        from: Option<&'a str>,
        exec: Option<ExecId>,
    },
    /// A fact, an injection or a timer: `tupleTable`'s `How`.
    Base(&'static str),
}

/// The rows a derivation makes on `node` (docs/language.md §8):
/// `emit(true, row)` for `ruleExec`, `emit(false, row)` for `tupleTable`. A
/// rule's derivation is a `ruleExec` row, and a `tupleTable` row too unless
/// it was sent away (the receiver records its arrival); every other cause
/// is a `tupleTable` row. `time` is in seconds.
#[allow(clippy::too_many_arguments)] // a derivation's parts, by name
pub fn rows(
    node: &Value,
    relation: &str,
    fields: &[Value],
    id: TupleId,
    cause: RowCause<'_>,
    time: &Value,
    mut emit: impl FnMut(bool, Vec<Value>),
) {
    let (source, exec, how) = match cause {
        RowCause::Rule {
            rule,
            exec,
            inputs,
            sent,
        } => {
            let to = fields.first().cloned().unwrap_or(Value::Null);
            emit(
                true,
                vec![
                    node.clone(),
                    Value::str(rule),
                    Value::List(inputs.iter().map(|&i| id_value(i)).collect()),
                    id_value(id),
                    to,
                    time.clone(),
                    id_value(exec),
                ],
            );
            if sent {
                return;
            }
            (node.clone(), exec, "rule")
        }
        RowCause::Received { from, exec } => (
            from.map_or(Value::Null, Value::str),
            exec.unwrap_or(0),
            "recv",
        ),
        RowCause::Base(how) => (node.clone(), 0, how),
    };
    let tuple = std::iter::once(Value::str(relation)).chain(fields.iter().cloned());
    emit(
        false,
        vec![
            node.clone(),
            id_value(id),
            Value::List(tuple.collect()),
            source,
            id_value(id),
            id_value(exec),
            Value::str(how),
            time.clone(),
        ],
    );
}

/// [`rows`] of one of the engine's derivations on `node`.
pub(crate) fn derivation_rows(
    plan: &Plan,
    node: &Arc<str>,
    d: &Derivation,
    time: &Value,
    emit: impl FnMut(bool, Vec<Value>),
) {
    let cause = match &d.cause {
        Cause::Rule {
            rule,
            exec,
            inputs,
            sent,
        } => RowCause::Rule {
            rule: &plan.rule(*rule).name,
            exec: *exec,
            inputs,
            sent: *sent,
        },
        Cause::Received { from, exec } => RowCause::Received {
            from: from.as_deref(),
            exec: *exec,
        },
        other => RowCause::Base(other.how()),
    };
    let relation = &plan.relation(d.relation).name;
    let here = Value::Str(node.clone());
    rows(&here, relation, &d.tuple, d.id, cause, time, emit);
}
