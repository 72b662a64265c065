//! Executing rule strands: expressions, pattern matching, index lookups,
//! and the head (a table write, an event of this tick, or a send).
//!
//! A strand runs as a recursion over its steps with one register file per
//! rule; nothing is allocated per joined tuple, only per derived one.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trellis_plan::{
    AggregateFn, Expr, Field, Plan, RelId, RelationKind, Route, Rows, RulePlan, Step, TableSpec,
};
use trellis_value::{BinaryOp, EvalError, Value, binary, in_interval, unary};

use crate::provenance::{Capture, MAX_AGGREGATE_INPUTS, Made, TupleId, exec_id, tuple_id};
use crate::rounds::{EventSet, Window};
use crate::table::{Row, Table, hash_columns, same};
use crate::{Sends, Time, Tuple};

/// Why a derivation was dropped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("the destination of a derived tuple must be an address string, found {found}")]
    Address { found: &'static str },
    /// A value written into a lattice column that is not of its lattice.
    #[error("field {position} of `{relation}`: {error}")]
    Lattice {
        relation: String,
        position: usize,
        error: trellis_value::LatticeError,
    },
}

/// The node's clock and random source, as built-ins see them.
#[derive(Clone)]
pub(crate) struct NodeEnv {
    pub rng: ChaCha8Rng,
    pub now: Time,
}

impl NodeEnv {
    pub fn new(seed: u64) -> NodeEnv {
        NodeEnv {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: 0,
        }
    }
}

impl trellis_value::Env for NodeEnv {
    fn now(&self) -> f64 {
        self.now as f64 / crate::NANOS_PER_SECOND as f64
    }
    fn random_u64(&mut self) -> u64 {
        self.rng.next_u64()
    }
}

/// What strands read: fixed for the whole round.
pub(crate) struct Ctx<'a> {
    pub plan: &'a Plan,
    pub tables: &'a [Option<Table>],
    pub events: &'a [EventSet],
    pub params: &'a [Value],
    /// Per rule: which registers anything reads (see [`read_registers`]).
    pub read: &'a [Vec<bool>],
    pub tick: u64,
    /// Which events this round sees, and which of them are new.
    pub window: Window,
    /// Which table rows are new.
    pub deltas: Deltas<'a>,
}

/// Which table rows are new to a round's strands.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Deltas<'a> {
    /// Tick semantics: the rows stamped with this tick (the previous
    /// tick's writes and this tick's table inputs).
    Stamped,
    /// P2 semantics: the one inserted row this pass processes, or none
    /// when it processes an event. It is given whole: a later write of the
    /// same fixpoint may have replaced or deleted it in its table.
    Row(Option<(RelId, &'a [Value])>),
}

impl Deltas<'_> {
    /// Is `row` of `rel` new?
    pub fn is_new(self, rel: RelId, row: &Row, tick: u64) -> bool {
        match self {
            Deltas::Stamped => row.stamp == tick,
            Deltas::Row(Some((r, fields))) => r == rel && row.fields == fields,
            Deltas::Row(None) => false,
        }
    }

    /// Does `table` (of `rel`) have new rows?
    pub fn any(self, rel: RelId, table: &Table, tick: u64) -> bool {
        match self {
            Deltas::Stamped => table.has_deltas(tick),
            Deltas::Row(row) => row.is_some_and(|(r, _)| r == rel),
        }
    }
}

/// A table write of this tick, applied when the tick's fixpoint is reached.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Write {
    /// The rule that derived it: writes apply in (stratum, program) order,
    /// so the later rule wins a key conflict whatever round it fired in.
    pub rule: u32,
    pub relation: RelId,
    pub delete: bool,
    /// Dropped before it is applied if it would change nothing (see
    /// [`drop_noop_writes`]).
    pub check: bool,
    /// Its key's hash in its table.
    pub hash: u64,
    /// Where its fields start in the tick's `write_fields` (one flat buffer
    /// rather than a tuple allocated per write).
    pub start: usize,
}

/// Writes probed at a time: enough for the cache misses of their probes to
/// overlap.
pub(crate) const WRITE_BATCH: usize = 64;

/// What strands produce.
pub(crate) struct Sink<'a, 't> {
    pub env: &'a mut NodeEnv,
    pub new_events: Vec<(RelId, Tuple)>,
    pub writes: Vec<Write>,
    pub write_fields: Vec<Value>,
    /// `writes` before this one are checked for no-ops.
    pub checked: usize,
    pub sends: Sends,
    pub errors: Vec<(u32, RuleError)>,
    pub firings: &'a mut [u64],
    pub groups: Groups,
    /// The register file strands bind variables in.
    pub registers: Vec<Value>,
    /// The head tuple being derived.
    scratch: Vec<Value>,
    /// Derivations (body matches reaching the head, aggregate inputs
    /// included) this tick may still make before its fixpoint is stopped.
    pub budget: usize,
    /// The budget ran out: strands stop where they are.
    pub exhausted: bool,
    /// Heads are deletes: a removed row's strands ship deletes of what it
    /// made (`RulePlan::retract`).
    pub retracting: bool,
    /// P2 semantics: this node's address. A derived tuple addressed to it
    /// is handled in this fixpoint (an event of it, or a write), never sent.
    pub local_address: Option<Arc<str>>,
    /// Provenance, when the node traces anything.
    pub capture: Option<Capture>,
    /// A traced rule's body tuples matched so far (atom, relation,
    /// fields), hashed into IDs only for the matches that reach the head.
    matched: Vec<(usize, RelId, &'t [Value])>,
    /// How far strands got (why-not), when asked.
    pub probe: Option<Probe>,
}

/// The furthest a strand's matches got, and the registers there (a
/// why-not question: `why_not.rs`).
#[derive(Debug, Default)]
pub(crate) struct Probe {
    /// The fewest steps left at any point reached.
    pub left: Option<usize>,
    /// The registers the first time that point was reached.
    pub registers: Vec<Value>,
}

impl<'a, 't> Sink<'a, 't> {
    /// A derivation dropped by a runtime error. It counts against the
    /// budget like one that succeeds, so that a join whose every match
    /// fails cannot pile up errors without bound.
    pub fn error(&mut self, rule: u32, error: RuleError) {
        if self.budget == 0 {
            self.exhausted = true;
            return;
        }
        self.budget -= 1;
        self.errors.push((rule, error));
    }

    pub fn new(env: &'a mut NodeEnv, firings: &'a mut [u64]) -> Self {
        Sink {
            env,
            new_events: Vec::new(),
            writes: Vec::new(),
            write_fields: Vec::new(),
            checked: 0,
            sends: Sends::default(),
            errors: Vec::new(),
            firings,
            groups: Groups::default(),
            registers: Vec::new(),
            scratch: Vec::new(),
            budget: usize::MAX,
            exhausted: false,
            retracting: false,
            local_address: None,
            capture: None,
            matched: Vec::new(),
            probe: None,
        }
    }

    /// A traced rule matched `fields` of `rel`: its ID is an input of what
    /// the match derives. Whether it was pushed (pop it after the match).
    #[inline]
    pub fn push_input(&mut self, atom: usize, rel: RelId, fields: &'t [Value]) -> bool {
        let on = self.capture.as_ref().is_some_and(|c| c.on);
        if on {
            self.matched.push((atom, rel, fields));
        }
        on
    }

    #[inline]
    pub fn pop_input(&mut self, pushed: bool) {
        if pushed {
            self.matched.pop();
        }
    }

    /// The IDs of the body tuples matched so far, in body order.
    fn inputs(&mut self, plan: &Plan) -> smallvec::SmallVec<[TupleId; 8]> {
        let mut sorted: smallvec::SmallVec<[(usize, RelId, &[Value]); 8]> =
            self.matched.iter().copied().collect();
        sorted.sort_by_key(|(atom, ..)| *atom);
        let ids = &mut self.capture.as_mut().expect("capturing").ids;
        sorted
            .into_iter()
            .map(|(_, rel, fields)| {
                ids.get(rel, fields, || tuple_id(&plan.relation(rel).name, fields))
            })
            .collect()
    }

    /// Record that `rule` is about to run: capture follows it if traced.
    #[inline]
    pub fn follow(&mut self, rule: &RulePlan) {
        if let Some(c) = &mut self.capture {
            c.on = c.traced[rule.id.0 as usize] && !self.retracting && !rule.head.delete;
            self.matched.clear();
        }
    }
}

pub(crate) fn eval(
    e: &Expr,
    regs: &[Value],
    params: &[Value],
    env: &mut NodeEnv,
) -> Result<Value, EvalError> {
    eval_ref(e, regs, params, env).map(Cow::into_owned)
}

/// Variables, constants and parameters, read in place (without a call:
/// most operands are one of these).
#[inline]
fn operand<'v>(e: &'v Expr, regs: &'v [Value], params: &'v [Value]) -> Option<&'v Value> {
    match e {
        Expr::Var(v) => Some(&regs[*v as usize]),
        Expr::Const(c) => Some(c),
        Expr::Param(p) => Some(&params[*p as usize]),
        _ => None,
    }
}

/// Evaluate, borrowing variables and constants instead of cloning them.
#[inline]
fn eval_ref<'v>(
    e: &'v Expr,
    regs: &'v [Value],
    params: &'v [Value],
    env: &mut NodeEnv,
) -> Result<Cow<'v, Value>, EvalError> {
    match operand(e, regs, params) {
        Some(v) => Ok(Cow::Borrowed(v)),
        None => eval_compound(e, regs, params, env).map(Cow::Owned),
    }
}

/// Evaluate an operator, a call or an interval test.
fn eval_compound(
    e: &Expr,
    regs: &[Value],
    params: &[Value],
    env: &mut NodeEnv,
) -> Result<Value, EvalError> {
    Ok(match e {
        Expr::Var(_) | Expr::Const(_) | Expr::Param(_) => {
            unreachable!("operands are read in place")
        }
        Expr::Unary(op, a) => unary(*op, &*eval_ref(a, regs, params, env)?)?,
        Expr::Binary(op, a, b) => {
            if let (Some(a), Some(b)) = (operand(a, regs, params), operand(b, regs, params)) {
                return binary(*op, a, b);
            }
            let a = eval_ref(a, regs, params, env)?;
            let b = eval_ref(b, regs, params, env)?;
            binary(*op, &a, &b)?
        }
        Expr::And(a, b) => Value::Bool(
            eval_ref(a, regs, params, env)?.truthy()?
                && eval_ref(b, regs, params, env)?.truthy()?,
        ),
        Expr::Or(a, b) => Value::Bool(
            eval_ref(a, regs, params, env)?.truthy()?
                || eval_ref(b, regs, params, env)?.truthy()?,
        ),
        Expr::Call(f, args) => {
            let mut values = smallvec::SmallVec::<[Value; 4]>::new();
            for a in args {
                values.push(eval(a, regs, params, env)?);
            }
            (f.0.eval)(&values, env)?
        }
        Expr::In { .. } => Value::Bool(interval(e, regs, params, env)?),
    })
}

/// `X in (L, H]` and the like.
fn interval(
    e: &Expr,
    regs: &[Value],
    params: &[Value],
    env: &mut NodeEnv,
) -> Result<bool, EvalError> {
    let Expr::In {
        value,
        low,
        high,
        low_closed,
        high_closed,
    } = e
    else {
        unreachable!("called on interval tests")
    };
    let (lc, hc) = (*low_closed, *high_closed);
    if let (Some(x), Some(lo), Some(hi)) = (
        operand(value, regs, params),
        operand(low, regs, params),
        operand(high, regs, params),
    ) {
        return in_interval(x, lo, hi, lc, hc);
    }
    let x = eval_ref(value, regs, params, env)?;
    let lo = eval_ref(low, regs, params, env)?;
    let hi = eval_ref(high, regs, params, env)?;
    in_interval(&x, &lo, &hi, lc, hc)
}

/// Evaluate a condition.
fn holds(e: &Expr, regs: &[Value], params: &[Value], env: &mut NodeEnv) -> Result<bool, EvalError> {
    match e {
        // The commonest condition in ring protocols, without a `Value`.
        Expr::In { .. } => interval(e, regs, params, env),
        e => eval_ref(e, regs, params, env)?.truthy(),
    }
}

/// Which of a rule's registers are ever read: binding the others (a
/// finger's address, an unused field) would be wasted work.
pub(crate) fn read_registers(rule: &RulePlan) -> Vec<bool> {
    fn expr(e: &Expr, read: &mut [bool]) {
        match e {
            Expr::Var(v) => read[*v as usize] = true,
            Expr::Const(_) | Expr::Param(_) => {}
            Expr::Unary(_, a) => expr(a, read),
            Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
                expr(a, read);
                expr(b, read);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| expr(a, read)),
            Expr::In {
                value, low, high, ..
            } => [value, low, high].into_iter().for_each(|a| expr(a, read)),
        }
    }
    fn pattern(p: &[Field], read: &mut [bool]) {
        for f in p {
            if let Field::Check(v) = f {
                read[*v as usize] = true;
            }
        }
    }
    let mut read = vec![false; rule.var_names.len()];
    for step in rule.strands.iter().flat_map(|s| &s.steps) {
        match step {
            Step::Scan { pattern: p, .. } => pattern(p, &mut read),
            Step::Join {
                key, pattern: p, ..
            }
            | Step::NotIn {
                key, pattern: p, ..
            } => {
                key.iter().for_each(|k| expr(k, &mut read));
                pattern(p, &mut read);
            }
            Step::Filter(e) | Step::Assign(_, e) => expr(e, &mut read),
            Step::MarkGroup => {}
        }
    }
    rule.head.fields.iter().for_each(|f| expr(f, &mut read));
    if let Some(v) = rule.head.aggregate.as_ref().and_then(|a| a.var) {
        read[v as usize] = true;
    }
    read
}

/// Are both the same shared string?
fn same_str(a: &Value, b: &Value) -> bool {
    matches!((a, b), (Value::Str(x), Value::Str(y)) if Arc::ptr_eq(x, y))
}

/// Match a tuple against a pattern, binding first occurrences that
/// something reads (`read`, from [`read_registers`]).
#[inline]
pub(crate) fn matches(
    pattern: &[Field],
    tuple: &[Value],
    regs: &mut [Value],
    params: &[Value],
    read: &[bool],
) -> bool {
    for (f, v) in pattern.iter().zip(tuple) {
        match f {
            Field::Bind(r) => {
                let reg = &mut regs[*r as usize];
                // Rebinding the same string (the location, row after row)
                // would only move its reference count up and down.
                if read[*r as usize] && !same_str(reg, v) {
                    *reg = v.clone();
                }
            }
            Field::Check(r) => {
                if !same(&regs[*r as usize], v) {
                    return false;
                }
            }
            Field::Const(c) => {
                if !same(c, v) {
                    return false;
                }
            }
            Field::Param(p) => {
                if !same(&params[*p as usize], v) {
                    return false;
                }
            }
            Field::Any => {}
        }
    }
    true
}

/// Index keys are variables, constants or parameters: read them in place.
fn key_value<'v>(e: &'v Expr, regs: &'v [Value], params: &'v [Value]) -> &'v Value {
    match e {
        Expr::Var(v) => &regs[*v as usize],
        Expr::Const(c) => c,
        Expr::Param(p) => &params[*p as usize],
        _ => unreachable!("the planner makes index keys of variables and constants"),
    }
}

/// Run `steps` with the registers bound so far; `fresh` is whether a tuple
/// new in this tick has been matched already.
pub(crate) fn exec<'t>(
    ctx: &Ctx<'t>,
    sink: &mut Sink<'_, 't>,
    rule: &RulePlan,
    steps: &[Step],
    regs: &mut [Value],
    fresh: bool,
) {
    if sink.probe.is_some() {
        note_progress(sink, steps.len(), regs);
    }
    let Some((step, rest)) = steps.split_first() else {
        finish(ctx, sink, rule, regs, fresh);
        return;
    };
    let read = &ctx.read[rule.id.0 as usize];
    match step {
        Step::Scan { .. } => unreachable!("a strand's scan is run by the tick"),
        Step::Join {
            atom,
            index,
            key,
            rows,
            pattern,
        } => {
            let rel = rule.body[*atom].relation;
            match &ctx.tables[rel.0 as usize] {
                Some(table) => {
                    let visit = |row: Row<'t>, regs: &mut [Value], sink: &mut Sink<'_, 't>| {
                        let is_delta = ctx.deltas.is_new(rel, &row, ctx.tick);
                        if *rows == Rows::Old && is_delta {
                            return;
                        }
                        if matches(pattern, row.fields, regs, ctx.params, read) {
                            let pushed = sink.push_input(*atom, rel, row.fields);
                            exec(ctx, sink, rule, rest, regs, fresh || is_delta);
                            sink.pop_input(pushed);
                        }
                    };
                    match index {
                        Some(ix) => {
                            let h =
                                hash_columns(key.iter().map(|k| key_value(k, regs, ctx.params)));
                            let candidates = table.index_candidates(ix.0 as usize, h);
                            // Rows scattered over the table: start loading the
                            // others while the first is read.
                            for &slot in candidates.iter().skip(1) {
                                table.prefetch_slot(slot);
                            }
                            for &slot in candidates {
                                if let Some(row) = table.row(slot) {
                                    visit(row, regs, sink);
                                }
                                if sink.exhausted {
                                    break;
                                }
                            }
                        }
                        None => {
                            for row in table.rows() {
                                visit(row, regs, sink);
                                if sink.exhausted {
                                    break;
                                }
                            }
                        }
                    }
                }
                None => {
                    let events = &ctx.events[rel.0 as usize];
                    let visible = match rows {
                        Rows::Old => events.old_in(ctx.window),
                        Rows::All => events.seen_in(ctx.window),
                    };
                    for (tuple, _) in visible {
                        if matches(pattern, tuple, regs, ctx.params, read) {
                            let pushed = sink.push_input(*atom, rel, tuple);
                            exec(ctx, sink, rule, rest, regs, true);
                            sink.pop_input(pushed);
                            if sink.exhausted {
                                break;
                            }
                        }
                    }
                }
            }
        }
        Step::NotIn {
            atom,
            index,
            key,
            pattern,
        } => {
            let rel = rule.body[*atom].relation;
            let found = match &ctx.tables[rel.0 as usize] {
                Some(table) => match index {
                    Some(ix) => {
                        let h = hash_columns(key.iter().map(|k| key_value(k, regs, ctx.params)));
                        table.index_candidates(ix.0 as usize, h).iter().any(|&s| {
                            table
                                .row(s)
                                .is_some_and(|r| matches(pattern, r.fields, regs, ctx.params, read))
                        })
                    }
                    None => table
                        .rows()
                        .any(|r| matches(pattern, r.fields, regs, ctx.params, read)),
                },
                None => ctx.events[rel.0 as usize]
                    .seen_in(ctx.window)
                    .iter()
                    .any(|(t, _)| matches(pattern, t, regs, ctx.params, read)),
            };
            if !found {
                exec(ctx, sink, rule, rest, regs, fresh);
            }
        }
        Step::Filter(e) => match holds(e, regs, ctx.params, sink.env) {
            Ok(true) => exec(ctx, sink, rule, rest, regs, fresh),
            Ok(false) => {}
            Err(err) => sink.error(rule.id.0, err.into()),
        },
        Step::Assign(v, e) => match eval(e, regs, ctx.params, sink.env) {
            Ok(value) => {
                regs[*v as usize] = value;
                exec(ctx, sink, rule, rest, regs, fresh);
            }
            Err(err) => sink.error(rule.id.0, err.into()),
        },
        Step::MarkGroup => {
            let key = match group_key(ctx, sink, rule, regs) {
                Ok(key) => key,
                Err(err) => {
                    sink.error(rule.id.0, err.into());
                    return;
                }
            };
            let group = sink.groups.find_owned(key);
            sink.groups.accs[group].triggered = true;
            // Every combination below has this key, unless evaluating the
            // key has effects (`f_rand()`): then `finish` evaluates it again.
            let fixed = rule.head.fields.iter().enumerate().all(|(i, f)| {
                Some(i) == rule.head.aggregate.as_ref().map(|a| a.position) || !calls(f)
            });
            let outer = std::mem::replace(&mut sink.groups.open, fixed.then_some(group));
            exec(ctx, sink, rule, rest, regs, fresh);
            sink.groups.open = outer;
        }
    }
}

/// A why-not probe's note of how far a match got (off the hot path: only
/// why-not questions carry a probe).
#[cold]
#[inline(never)]
fn note_progress(sink: &mut Sink, left: usize, regs: &[Value]) {
    if let Some(probe) = &mut sink.probe
        && probe.left.is_none_or(|l| left < l)
    {
        probe.left = Some(left);
        probe.registers = regs.to_vec();
    }
}

/// Does evaluating `e` call a built-in function?
fn calls(e: &Expr) -> bool {
    match e {
        Expr::Var(_) | Expr::Const(_) | Expr::Param(_) => false,
        Expr::Call(..) => true,
        Expr::Unary(_, a) => calls(a),
        Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => calls(a) || calls(b),
        Expr::In {
            value, low, high, ..
        } => calls(value) || calls(low) || calls(high),
    }
}

/// The group-by fields of an aggregate rule's head, in a reused buffer.
fn group_key(
    ctx: &Ctx,
    sink: &mut Sink,
    rule: &RulePlan,
    regs: &[Value],
) -> Result<Vec<Value>, EvalError> {
    let agg = rule.head.aggregate.as_ref().expect("an aggregate rule");
    let mut key = std::mem::take(&mut sink.groups.spare);
    key.clear();
    for (i, f) in rule.head.fields.iter().enumerate() {
        if i != agg.position {
            key.push(eval(f, regs, ctx.params, sink.env)?);
        }
    }
    Ok(key)
}

/// The end of a strand: fold into the aggregate, or derive the head.
#[inline]
fn finish(ctx: &Ctx, sink: &mut Sink, rule: &RulePlan, regs: &[Value], fresh: bool) {
    if sink.budget == 0 {
        sink.exhausted = true;
        return;
    }
    sink.budget -= 1;
    if let Some(agg) = &rule.head.aggregate {
        let group = match sink.groups.open {
            Some(group) => group,
            None => {
                let mut key = match group_key(ctx, sink, rule, regs) {
                    Ok(k) => k,
                    Err(err) => {
                        sink.errors.push((rule.id.0, err.into())); // charged above
                        return;
                    }
                };
                let group = sink.groups.find(&mut key);
                sink.groups.spare = key;
                group
            }
        };
        let acc = &mut sink.groups.accs[group];
        acc.triggered |= fresh;
        acc.add(agg.function, agg.var.map(|v| &regs[v as usize]));
        if sink.capture.as_ref().is_some_and(|c| c.on) {
            let room = MAX_AGGREGATE_INPUTS.saturating_sub(acc.inputs.len());
            if room > 0 {
                let inputs = sink.inputs(ctx.plan);
                let acc = &mut sink.groups.accs[group];
                acc.inputs.extend(inputs.into_iter().take(room));
            }
        }
        return;
    }
    sink.scratch.clear();
    for f in &rule.head.fields {
        if let Expr::Var(v) = f {
            sink.scratch.push(regs[*v as usize].clone());
            continue;
        }
        match eval(f, regs, ctx.params, sink.env) {
            Ok(v) => sink.scratch.push(v),
            Err(err) => {
                sink.errors.push((rule.id.0, err.into())); // charged above
                return;
            }
        }
    }
    // Large values count against the budget by their size, so that it
    // bounds a tick's memory too: a rule that grows a list each round
    // would otherwise allocate quadratically within the count.
    let weight: usize = sink.scratch.iter().map(weight).sum();
    if weight > sink.budget {
        sink.exhausted = true;
        return;
    }
    sink.budget -= weight;
    // A write that changes nothing is dropped (recursive queries re-derive
    // known facts many times over).
    let rel = rule.head.relation;
    let check = rule.head.route == Route::LocalTable
        && !rule.head.delete
        && ctx.plan.relation(rel).watch.is_none()
        && ctx.tables[rel.0 as usize]
            .as_ref()
            .is_some_and(Table::noop_writes);
    derive(ctx.plan, ctx.tables, sink, rule, check, None);
    if check && sink.writes.len() - sink.checked >= WRITE_BATCH {
        drop_noop_writes(ctx.plan, ctx.tables, sink);
    }
}

/// What a derived value costs beyond one derivation: a list's elements
/// (each head copies its top level), a string's bytes in 64-byte units.
fn weight(v: &Value) -> usize {
    match v {
        Value::List(items) => items.len(),
        Value::Str(s) => s.len() / 64,
        _ => 0,
    }
}

/// Drop the writes since `sink.checked` that would change nothing (see
/// [`Table::write_is_noop`]). Tables do not change until the tick's
/// fixpoint is reached, so checking after the fact gives the answer of
/// derivation time, and checking many writes at once lets their cache
/// misses overlap.
pub(crate) fn drop_noop_writes(plan: &Plan, tables: &[Option<Table>], sink: &mut Sink) {
    let Sink {
        writes,
        write_fields,
        checked,
        ..
    } = sink;
    let Some(first) = writes.get(*checked) else {
        return;
    };
    let arity = |w: &Write| plan.relation(w.relation).arity;
    let table = |w: &Write| tables[w.relation.0 as usize].as_ref().expect("a table");
    // Kept writes and their fields move down over the dropped ones.
    let mut kept = *checked;
    let mut kept_fields = first.start;
    let end = writes.len();
    for batch in (*checked..end).step_by(WRITE_BATCH) {
        let batch = batch..end.min(batch + WRITE_BATCH);
        prefetch_probes(tables, &writes[batch.clone()], |w| w.check);
        for index in batch {
            let mut w = writes[index];
            let n = arity(&w);
            if w.check && table(&w).write_is_noop(&write_fields[w.start..w.start + n], w.hash) {
                continue;
            }
            if kept_fields != w.start {
                // Element by element upwards: the source is never behind.
                for j in 0..n {
                    write_fields.swap(kept_fields + j, w.start + j);
                }
                w.start = kept_fields;
            }
            writes[kept] = w;
            kept += 1;
            kept_fields += n;
        }
    }
    writes.truncate(kept);
    write_fields.truncate(kept_fields);
    *checked = kept;
}

/// Start loading what probing the tables for the `writes` that `probed`
/// selects will read, before the first probe: their cache misses overlap
/// instead of following one another.
pub(crate) fn prefetch_probes(
    tables: &[Option<Table>],
    writes: &[Write],
    probed: impl Fn(&Write) -> bool,
) {
    let table = |w: &Write| tables[w.relation.0 as usize].as_ref().expect("a table");
    for w in writes.iter().filter(|w| probed(w)) {
        table(w).prefetch_entry(w.hash);
    }
    for w in writes.iter().filter(|w| probed(w)) {
        table(w).prefetch_row(w.hash);
    }
}

/// Route the head tuple derived in `sink.scratch` (which this empties);
/// `group_inputs` are an aggregate's inputs, when captured.
fn derive(
    plan: &Plan,
    tables: &[Option<Table>],
    sink: &mut Sink,
    rule: &RulePlan,
    check: bool,
    group_inputs: Option<&[TupleId]>,
) {
    let head = &rule.head;
    let route = match (head.route, &sink.local_address, &sink.scratch[0]) {
        (Route::Send, Some(local), Value::Str(to)) if **local == **to => {
            match plan.relation(head.relation).kind {
                RelationKind::Table(_) => Route::LocalTable,
                _ => Route::LocalEvent,
            }
        }
        (route, ..) => route,
    };
    if !head.delete
        && let RelationKind::Table(spec) = &plan.relation(head.relation).kind
        && let Err((position, error)) = admit_lattices(spec, &mut sink.scratch)
    {
        let relation = plan.relation(head.relation).name.clone();
        sink.error(
            rule.id.0,
            RuleError::Lattice {
                relation,
                position,
                error,
            },
        );
        sink.scratch.clear();
        return;
    }
    if route == Route::Send && !matches!(sink.scratch[0], Value::Str(_)) {
        let found = sink.scratch[0].type_name();
        sink.error(rule.id.0, RuleError::Address { found });
        return;
    }
    // An event's tuple is made anyway: provenance shares it.
    let event = (route == Route::LocalEvent).then(|| sink.scratch.drain(..).collect::<Tuple>());
    let exec = match sink.capture.as_ref().is_some_and(|c| c.on) {
        true => {
            let relation = head.relation;
            let tuple = event
                .clone()
                .unwrap_or_else(|| Tuple::from(&sink.scratch[..]));
            let id = tuple_id(&plan.relation(relation).name, &tuple);
            let inputs =
                group_inputs.map_or_else(|| sink.inputs(plan).to_vec(), <[TupleId]>::to_vec);
            let c = sink.capture.as_mut().expect("capturing");
            let exec = exec_id(&rule.name, &c.node, id, &inputs);
            c.made.push(Made {
                rule: rule.id,
                relation,
                tuple,
                id,
                exec,
                inputs,
                sent: route == Route::Send,
            });
            Some(exec)
        }
        false => None,
    };
    match route {
        Route::LocalTable => {
            let table = tables[head.relation.0 as usize].as_ref().expect("a table");
            sink.writes.push(Write {
                rule: rule.id.0,
                relation: head.relation,
                delete: head.delete,
                check,
                hash: table.key_hash(&sink.scratch),
                start: sink.write_fields.len(),
            });
            sink.write_fields.append(&mut sink.scratch);
        }
        Route::LocalEvent => {
            let tuple = event.expect("made above");
            sink.new_events.push((head.relation, tuple));
        }
        Route::Send => {
            debug_assert!(
                matches!(
                    plan.relation(head.relation).kind,
                    RelationKind::Table(_) | RelationKind::Event
                ),
                "periodic is never a head"
            );
            let delete = head.delete || sink.retracting;
            sink.sends
                .push(head.relation, &mut sink.scratch, delete, exec);
        }
    }
    sink.firings[rule.id.0 as usize] += 1;
}

/// Put the lattice columns of a row about to be written or sent in their
/// canonical form; the 1-based position and the problem of the first that
/// is not of its lattice.
pub(crate) fn admit_lattices(
    spec: &TableSpec,
    row: &mut [Value],
) -> Result<(), (usize, trellis_value::LatticeError)> {
    for (column, lattice) in &spec.lattices {
        row[*column] = lattice.admit(&row[*column]).map_err(|e| (column + 1, e))?;
    }
    Ok(())
}

/// The groups of the aggregate rule being evaluated.
#[derive(Debug, Default)]
pub(crate) struct Groups {
    /// Each key's accumulator in `accs`; groups are emitted in key order.
    index: BTreeMap<Vec<Value>, usize>,
    accs: Vec<Accumulator>,
    /// The group `MarkGroup` opened for the combinations below it, when
    /// `finish` need not evaluate the key again.
    open: Option<usize>,
    /// The key found last and its group: a join yields runs of
    /// combinations in one group.
    last_key: Vec<Value>,
    last: Option<usize>,
    /// A spare key buffer.
    spare: Vec<Value>,
}

impl Groups {
    /// The group of `key`, created if new; `key` comes back as a spare
    /// buffer.
    fn find(&mut self, key: &mut Vec<Value>) -> usize {
        if let Some(group) = self.last
            && self.last_key == *key
        {
            return group;
        }
        let group = match self.index.get(key.as_slice()) {
            Some(&group) => group,
            None => {
                self.accs.push(Accumulator::default());
                self.index.insert(key.clone(), self.accs.len() - 1);
                self.accs.len() - 1
            }
        };
        std::mem::swap(&mut self.last_key, key);
        self.last = Some(group);
        group
    }

    /// The group of `key`, created if new, with one search of the map (a
    /// key opened by `MarkGroup` is usually new).
    fn find_owned(&mut self, key: Vec<Value>) -> usize {
        let new = self.accs.len();
        let group = *self.index.entry(key).or_insert(new);
        if group == new {
            self.accs.push(Accumulator::default());
        }
        group
    }
}

/// One group of an aggregate rule.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    /// A combination with a new tuple, or a triggering event, reached it.
    pub triggered: bool,
    count: u64,
    value: Option<Value>,
    error: Option<EvalError>,
    /// Captured inputs (provenance), at most [`MAX_AGGREGATE_INPUTS`].
    inputs: Vec<TupleId>,
}

impl Accumulator {
    fn add(&mut self, f: AggregateFn, value: Option<&Value>) {
        let v = match value {
            None => {
                // count<*>
                self.count += 1;
                return;
            }
            Some(Value::Null) => return,
            Some(v) => v,
        };
        self.count += 1;
        self.value = match (f, self.value.take()) {
            (AggregateFn::Count, _) => None,
            (_, None) => Some(v.clone()),
            (AggregateFn::Min, Some(cur)) => Some(if lang_lt(v, &cur) { v.clone() } else { cur }),
            (AggregateFn::Max, Some(cur)) => Some(if lang_lt(&cur, v) { v.clone() } else { cur }),
            (AggregateFn::Sum | AggregateFn::Avg, Some(cur)) => {
                match binary(BinaryOp::Add, &cur, v) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        self.error = Some(e);
                        Some(cur)
                    }
                }
            }
        };
    }

    pub fn result(&self, f: AggregateFn) -> Result<Value, EvalError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        Ok(match f {
            AggregateFn::Count => Value::Int(self.count as i64),
            AggregateFn::Min | AggregateFn::Max | AggregateFn::Sum => {
                self.value.clone().unwrap_or(Value::Null)
            }
            AggregateFn::Avg => match &self.value {
                None => Value::Null,
                Some(sum) => binary(
                    BinaryOp::Div,
                    &to_float(sum),
                    &Value::Float(self.count as f64),
                )?,
            },
        })
    }
}

fn to_float(v: &Value) -> Value {
    match v {
        Value::Int(i) => Value::Float(*i as f64),
        Value::Id(id) => Value::Float(id.to_f64()),
        other => other.clone(),
    }
}

/// The language's order: numbers by value across types, then by type.
fn lang_lt(a: &Value, b: &Value) -> bool {
    matches!(binary(BinaryOp::Lt, a, b), Ok(Value::Bool(true)))
}

/// Emit the triggered groups of an aggregate rule.
pub(crate) fn emit_groups(plan: &Plan, tables: &[Option<Table>], sink: &mut Sink, rule: &RulePlan) {
    let agg = rule.head.aggregate.as_ref().expect("an aggregate rule");
    let Groups { index, accs, .. } = std::mem::take(&mut sink.groups);
    for (key, group) in index {
        let acc = &accs[group];
        if !acc.triggered {
            continue;
        }
        let value = match acc.result(agg.function) {
            Ok(v) => v,
            Err(err) => {
                sink.error(rule.id.0, err.into());
                continue;
            }
        };
        if agg.position == 0 && value == Value::Null {
            // `lookup@BI(min<BI>, ...)` over an empty group: there is no
            // address to send the result to, so there is no result.
            continue;
        }
        sink.scratch.clear();
        sink.scratch.extend(key);
        sink.scratch.insert(agg.position, value);
        derive(plan, tables, sink, rule, false, Some(&acc.inputs));
    }
}
