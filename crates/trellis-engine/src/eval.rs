//! Executing rule strands: expressions, pattern matching, index lookups,
//! and the head (a table write, an event of this tick, or a send).
//!
//! A strand runs as a recursion over its steps with one register file per
//! rule; nothing is allocated per joined tuple, only per derived one.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rustc_hash::FxHashSet;
use trellis_plan::{
    AggregateFn, Expr, Field, Plan, RelId, RelationKind, Route, Rows, RulePlan, Step,
};
use trellis_value::{BinaryOp, EvalError, Value, binary, in_interval, unary};

use crate::table::{Table, hash_columns};
use crate::{Time, Tuple};

/// Why a derivation was dropped.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error(transparent)]
    Eval(#[from] EvalError),
    #[error("the destination of a derived tuple must be an address string, found {found}")]
    Address { found: &'static str },
}

/// The node's clock and random source, as built-ins see them.
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

/// The events of one relation in the current tick, a set, each stamped with
/// the fixpoint round that produced it.
#[derive(Debug, Default)]
pub(crate) struct EventSet {
    pub tuples: Vec<(Tuple, u32)>,
    pub seen: FxHashSet<Tuple>,
}

impl EventSet {
    /// Tuples with `lo < stamp <= hi` (`lo = None`: from the start).
    pub fn window(&self, lo: Option<u32>, hi: u32) -> &[(Tuple, u32)] {
        let start = lo.map_or(0, |lo| self.tuples.partition_point(|(_, s)| *s <= lo));
        let end = self.tuples.partition_point(|(_, s)| *s <= hi);
        &self.tuples[start..end.max(start)]
    }
}

/// What strands read: fixed for the whole round.
pub(crate) struct Ctx<'a> {
    pub plan: &'a Plan,
    pub tables: &'a [Option<Table>],
    pub events: &'a [EventSet],
    pub params: &'a [Value],
    pub tick: u64,
    /// Events up to this stamp are "old" in this round (`None`: none are).
    pub old_hi: Option<u32>,
    /// Events up to this stamp are visible in this round.
    pub all_hi: u32,
}

/// A table write of this tick, applied when the tick's fixpoint is reached.
pub(crate) struct Write {
    /// The rule that derived it: writes apply in (stratum, program) order,
    /// so the later rule wins a key conflict whatever round it fired in.
    pub rule: u32,
    pub relation: RelId,
    pub tuple: Tuple,
    pub delete: bool,
}

/// What strands produce.
pub(crate) struct Sink<'a> {
    pub env: &'a mut NodeEnv,
    pub new_events: Vec<(RelId, Tuple)>,
    pub writes: Vec<Write>,
    pub sends: Vec<(RelId, Tuple, bool)>,
    pub errors: Vec<(u32, RuleError)>,
    pub firings: &'a mut [u64],
    pub groups: BTreeMap<Vec<Value>, Accumulator>,
    /// The register file strands bind variables in.
    pub registers: Vec<Value>,
    scratch: Vec<Value>,
}

impl<'a> Sink<'a> {
    pub fn new(env: &'a mut NodeEnv, firings: &'a mut [u64]) -> Self {
        Sink {
            env,
            new_events: Vec::new(),
            writes: Vec::new(),
            sends: Vec::new(),
            errors: Vec::new(),
            firings,
            groups: BTreeMap::new(),
            registers: Vec::new(),
            scratch: Vec::new(),
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

/// Evaluate, borrowing variables and constants instead of cloning them.
fn eval_ref<'v>(
    e: &'v Expr,
    regs: &'v [Value],
    params: &'v [Value],
    env: &mut NodeEnv,
) -> Result<Cow<'v, Value>, EvalError> {
    Ok(match e {
        Expr::Var(v) => Cow::Borrowed(&regs[*v as usize]),
        Expr::Const(c) => Cow::Borrowed(c),
        Expr::Param(p) => Cow::Borrowed(&params[*p as usize]),
        Expr::Unary(op, a) => Cow::Owned(unary(*op, &*eval_ref(a, regs, params, env)?)?),
        Expr::Binary(op, a, b) => {
            let a = eval_ref(a, regs, params, env)?;
            let b = eval_ref(b, regs, params, env)?;
            Cow::Owned(binary(*op, &a, &b)?)
        }
        Expr::And(a, b) => Cow::Owned(Value::Bool(
            eval_ref(a, regs, params, env)?.truthy()?
                && eval_ref(b, regs, params, env)?.truthy()?,
        )),
        Expr::Or(a, b) => Cow::Owned(Value::Bool(
            eval_ref(a, regs, params, env)?.truthy()?
                || eval_ref(b, regs, params, env)?.truthy()?,
        )),
        Expr::Call(f, args) => {
            let mut values = smallvec::SmallVec::<[Value; 4]>::new();
            for a in args {
                values.push(eval(a, regs, params, env)?);
            }
            Cow::Owned((f.0.eval)(&values, env)?)
        }
        Expr::In {
            value,
            low,
            high,
            low_closed,
            high_closed,
        } => {
            let x = eval_ref(value, regs, params, env)?;
            let lo = eval_ref(low, regs, params, env)?;
            let hi = eval_ref(high, regs, params, env)?;
            Cow::Owned(Value::Bool(in_interval(
                &x,
                &lo,
                &hi,
                *low_closed,
                *high_closed,
            )?))
        }
    })
}

/// Evaluate a condition.
fn holds(e: &Expr, regs: &[Value], params: &[Value], env: &mut NodeEnv) -> Result<bool, EvalError> {
    eval_ref(e, regs, params, env)?.truthy()
}

/// Match a tuple against a pattern, binding first occurrences.
#[inline]
pub(crate) fn matches(
    pattern: &[Field],
    tuple: &[Value],
    regs: &mut [Value],
    params: &[Value],
) -> bool {
    for (f, v) in pattern.iter().zip(tuple) {
        match f {
            Field::Bind(r) => regs[*r as usize] = v.clone(),
            Field::Check(r) => {
                if regs[*r as usize] != *v {
                    return false;
                }
            }
            Field::Const(c) => {
                if c != v {
                    return false;
                }
            }
            Field::Param(p) => {
                if params[*p as usize] != *v {
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
pub(crate) fn exec(
    ctx: &Ctx,
    sink: &mut Sink,
    rule: &RulePlan,
    steps: &[Step],
    regs: &mut [Value],
    fresh: bool,
) {
    let Some((step, rest)) = steps.split_first() else {
        finish(ctx, sink, rule, regs, fresh);
        return;
    };
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
                    let visit = |row: &crate::table::Row, regs: &mut [Value], sink: &mut Sink| {
                        let is_delta = row.stamp == ctx.tick;
                        if *rows == Rows::Old && is_delta {
                            return;
                        }
                        if matches(pattern, &row.tuple, regs, ctx.params) {
                            exec(ctx, sink, rule, rest, regs, fresh || is_delta);
                        }
                    };
                    match index {
                        Some(ix) => {
                            let h =
                                hash_columns(key.iter().map(|k| key_value(k, regs, ctx.params)));
                            for &slot in table.index_candidates(ix.0 as usize, h) {
                                if let Some(row) = table.row(slot) {
                                    visit(row, regs, sink);
                                }
                            }
                        }
                        None => {
                            for row in table.rows() {
                                visit(row, regs, sink);
                            }
                        }
                    }
                }
                None => {
                    let lo_hi = match rows {
                        Rows::Old => ctx.old_hi,
                        Rows::All => Some(ctx.all_hi),
                    };
                    let Some(hi) = lo_hi else { return };
                    for (tuple, _) in ctx.events[rel.0 as usize].window(None, hi) {
                        if matches(pattern, tuple, regs, ctx.params) {
                            exec(ctx, sink, rule, rest, regs, true);
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
                                .is_some_and(|r| matches(pattern, &r.tuple, regs, ctx.params))
                        })
                    }
                    None => table
                        .rows()
                        .any(|r| matches(pattern, &r.tuple, regs, ctx.params)),
                },
                None => ctx.events[rel.0 as usize]
                    .window(None, ctx.all_hi)
                    .iter()
                    .any(|(t, _)| matches(pattern, t, regs, ctx.params)),
            };
            if !found {
                exec(ctx, sink, rule, rest, regs, fresh);
            }
        }
        Step::Filter(e) => match holds(e, regs, ctx.params, sink.env) {
            Ok(true) => exec(ctx, sink, rule, rest, regs, fresh),
            Ok(false) => {}
            Err(err) => sink.errors.push((rule.id.0, err.into())),
        },
        Step::Assign(v, e) => match eval(e, regs, ctx.params, sink.env) {
            Ok(value) => {
                regs[*v as usize] = value;
                exec(ctx, sink, rule, rest, regs, fresh);
            }
            Err(err) => sink.errors.push((rule.id.0, err.into())),
        },
        Step::MarkGroup => {
            match group_key(ctx, sink, rule, regs) {
                Ok(key) => sink.groups.entry(key).or_default().triggered = true,
                Err(err) => {
                    sink.errors.push((rule.id.0, err.into()));
                    return;
                }
            }
            exec(ctx, sink, rule, rest, regs, fresh);
        }
    }
}

fn group_key(
    ctx: &Ctx,
    sink: &mut Sink,
    rule: &RulePlan,
    regs: &[Value],
) -> Result<Vec<Value>, EvalError> {
    let agg = rule.head.aggregate.as_ref().expect("an aggregate rule");
    let mut key = Vec::with_capacity(rule.head.fields.len() - 1);
    for (i, f) in rule.head.fields.iter().enumerate() {
        if i != agg.position {
            key.push(eval(f, regs, ctx.params, sink.env)?);
        }
    }
    Ok(key)
}

/// The end of a strand: fold into the aggregate, or derive the head.
fn finish(ctx: &Ctx, sink: &mut Sink, rule: &RulePlan, regs: &[Value], fresh: bool) {
    if let Some(agg) = &rule.head.aggregate {
        let key = match group_key(ctx, sink, rule, regs) {
            Ok(k) => k,
            Err(err) => {
                sink.errors.push((rule.id.0, err.into()));
                return;
            }
        };
        let value = agg.var.map(|v| &regs[v as usize]);
        let acc = sink.groups.entry(key).or_default();
        acc.triggered |= fresh;
        acc.add(agg.function, value);
        return;
    }
    sink.scratch.clear();
    for f in &rule.head.fields {
        match eval(f, regs, ctx.params, sink.env) {
            Ok(v) => sink.scratch.push(v),
            Err(err) => {
                sink.errors.push((rule.id.0, err.into()));
                return;
            }
        }
    }
    // A write that changes nothing is skipped before allocating a tuple
    // (recursive queries re-derive known facts many times over).
    if rule.head.route == Route::LocalTable && !rule.head.delete {
        let rel = rule.head.relation;
        let watched = ctx.plan.relation(rel).watch.is_some();
        if let Some(table) = &ctx.tables[rel.0 as usize] {
            if !watched && table.write_is_noop(&sink.scratch) {
                sink.firings[rule.id.0 as usize] += 1;
                return;
            }
        }
    }
    let tuple: Tuple = Tuple::from(&sink.scratch[..]);
    derive(ctx.plan, sink, rule, tuple);
}

/// Route a derived head tuple.
pub(crate) fn derive(plan: &Plan, sink: &mut Sink, rule: &RulePlan, tuple: Tuple) {
    let head = &rule.head;
    match head.route {
        Route::LocalTable => sink.writes.push(Write {
            rule: rule.id.0,
            relation: head.relation,
            tuple,
            delete: head.delete,
        }),
        Route::LocalEvent => sink.new_events.push((head.relation, tuple)),
        Route::Send => {
            if !matches!(tuple[0], Value::Str(_)) {
                let found = tuple[0].type_name();
                sink.errors.push((rule.id.0, RuleError::Address { found }));
                return;
            }
            debug_assert!(
                matches!(
                    plan.relation(head.relation).kind,
                    RelationKind::Table(_) | RelationKind::Event
                ),
                "periodic is never a head"
            );
            sink.sends.push((head.relation, tuple, head.delete));
        }
    }
    sink.firings[rule.id.0 as usize] += 1;
}

/// One group of an aggregate rule.
#[derive(Debug, Default)]
pub(crate) struct Accumulator {
    /// A combination with a new tuple, or a triggering event, reached it.
    pub triggered: bool,
    count: u64,
    value: Option<Value>,
    error: Option<EvalError>,
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
pub(crate) fn emit_groups(plan: &Plan, sink: &mut Sink, rule: &RulePlan) {
    let agg = rule.head.aggregate.as_ref().expect("an aggregate rule");
    let groups = std::mem::take(&mut sink.groups);
    for (key, acc) in groups {
        if !acc.triggered {
            continue;
        }
        let value = match acc.result(agg.function) {
            Ok(v) => v,
            Err(err) => {
                sink.errors.push((rule.id.0, err.into()));
                continue;
            }
        };
        let mut fields = key;
        fields.insert(agg.position, value);
        derive(plan, sink, rule, Tuple::from(fields));
    }
}
