//! Rule safety and strands: one single-location rule to a [`RulePlan`].
//! Safety first (every variable of a condition, a `notin`, the head or an
//! aggregate is bound by a positive atom or an assignment); then the head
//! and its route; then one strand per atom that can bring new tuples (or a
//! single one for an aggregate), each a scan followed by greedy joins, with
//! selections, assignments and `notin` checks placed as soon as their
//! variables are bound.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use trellis_syntax::Span;
use trellis_syntax::ast::{self, ExprKind};
use trellis_value::Value;

use super::localize::LocTerm;
use super::{Compiler, CondIr, RuleIr, atom_vars, expr_vars};
use crate::error::PlanError;
use crate::plan::*;

/// Builds one single-location rule: variables, safety, strands, head.
pub(super) struct RuleBuilder<'c, 's> {
    pub(super) c: &'c mut Compiler<'s>,
    ir: &'c RuleIr,
    vars: Vec<String>,
    /// Where each name is in `vars`.
    var_ids: HashMap<String, VarId>,
}

impl<'c, 's> RuleBuilder<'c, 's> {
    pub(super) fn new(c: &'c mut Compiler<'s>, ir: &'c RuleIr) -> Self {
        RuleBuilder {
            c,
            ir,
            vars: Vec::new(),
            var_ids: HashMap::new(),
        }
    }

    fn var(&mut self, name: &str) -> VarId {
        if let Some(&id) = self.var_ids.get(name) {
            return id;
        }
        let id = self.vars.len() as VarId;
        self.vars.push(name.to_string());
        self.var_ids.insert(name.to_string(), id);
        id
    }

    pub(super) fn build(mut self) -> Result<RulePlan, PlanError> {
        let ir = self.ir;
        // Safety: what the positive atoms bind, then assignments in order.
        let mut bound: BTreeSet<String> = ir
            .atoms
            .iter()
            .filter(|a| !a.negated)
            .flat_map(|a| atom_vars(&a.args).map(String::from))
            .collect();
        let mut pending: Vec<&CondIr> = ir.conds.iter().collect();
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for c in pending {
                match c {
                    CondIr::Assign(var, _) => {
                        if c.vars().iter().all(|(v, _)| bound.contains(v)) {
                            if !bound.insert(var.name.clone()) {
                                return Err(PlanError::Reassigned {
                                    var: var.name.clone(),
                                    span: var.span,
                                });
                            }
                        } else {
                            still.push(c);
                        }
                    }
                    CondIr::Filter(_) => {}
                }
            }
            pending = still;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for c in &ir.conds {
            if let Some((v, span)) = c.vars().into_iter().find(|(v, _)| !bound.contains(v)) {
                return Err(PlanError::UnboundCondition { var: v, span });
            }
            if let Some(span) = wildcard_in(c) {
                return Err(PlanError::UnboundCondition {
                    var: "_".into(),
                    span,
                });
            }
        }
        for a in ir.atoms.iter().filter(|a| a.negated) {
            for arg in &a.args {
                if let ExprKind::Var(v) = &arg.kind
                    && !bound.contains(v)
                {
                    return Err(PlanError::UnboundNotIn {
                        var: v.clone(),
                        span: arg.span,
                    });
                }
            }
        }

        // Register variables in order of appearance, so output is stable.
        for a in &ir.atoms {
            for v in atom_vars(&a.args) {
                self.var(v);
            }
        }
        for c in &ir.conds {
            if let CondIr::Assign(var, _) = c {
                self.var(&var.name);
            }
        }
        let uses = JoinUses::new(ir, |name| self.var(name));

        let head = self.head(&bound)?;
        let group_vars = self.group_vars(&head);
        let rel_kinds: Vec<RelationKind> = ir
            .atoms
            .iter()
            .map(|a| self.c.plan.relation(a.relation).kind.clone())
            .collect();
        let is_event = |k: &RelationKind| !matches!(k, RelationKind::Table(_));
        let has_event = ir
            .atoms
            .iter()
            .zip(&rel_kinds)
            .any(|(a, k)| !a.negated && is_event(k));

        let mut strands = Vec::new();
        if head.aggregate.is_some() {
            // One full evaluation, driven by the first event (or atom).
            let drive = (0..ir.atoms.len())
                .find(|&i| !ir.atoms[i].negated && is_event(&rel_kinds[i]))
                .or_else(|| (0..ir.atoms.len()).find(|&i| !ir.atoms[i].negated))
                .expect("a positive atom exists");
            let mark = is_event(&rel_kinds[drive]).then_some(&group_vars);
            strands.push(self.strand(&uses, None, drive, |_| Rows::All, mark, None)?);
        } else {
            for t in 0..ir.atoms.len() {
                let a = &ir.atoms[t];
                // A strand per atom that can bring new tuples: every event
                // when the rule has one, else every table (its deltas).
                if a.negated || has_event != is_event(&rel_kinds[t]) {
                    continue;
                }
                let rows = |j: usize| {
                    if j < t && has_event == is_event(&rel_kinds[j]) {
                        Rows::Old
                    } else {
                        Rows::All
                    }
                };
                strands.push(self.strand(&uses, Some(t), t, rows, None, None)?);
            }
        }

        // Why-not reads a node between ticks, when there are no events: a
        // rule with events is evaluated from each of its tables, the events
        // joined (and found missing) after them.
        let mut why_not = Vec::new();
        if has_event && head.aggregate.is_none() {
            let events: Vec<bool> = rel_kinds.iter().map(is_event).collect();
            for first in (0..ir.atoms.len()).filter(|&i| !ir.atoms[i].negated && !events[i]) {
                let strand = self.strand(&uses, None, first, |_| Rows::All, None, Some(&events))?;
                why_not.push(strand);
            }
        }

        let body = ir
            .atoms
            .iter()
            .map(|a| BodyAtom {
                relation: a.relation,
                negated: a.negated,
            })
            .collect();
        Ok(RulePlan {
            id: RuleId(self.c.plan.rules.len() as u32),
            name: ir.name.clone(),
            origin: ir.origin.clone(),
            stratum: 0,
            var_names: self.vars.clone(),
            body,
            strands,
            why_not,
            head,
            span: ir.span,
            retract: ir.retract,
        })
    }

    /// Variables the head's group-by fields need.
    fn group_vars(&self, head: &Head) -> BTreeSet<VarId> {
        let mut out = BTreeSet::new();
        for (i, f) in head.fields.iter().enumerate() {
            if head.aggregate.as_ref().is_some_and(|a| a.position == i) {
                continue;
            }
            plan_expr_vars(f, &mut out);
        }
        out
    }

    fn head(&mut self, bound: &BTreeSet<String>) -> Result<Head, PlanError> {
        let ir = self.ir;
        let rel = self
            .c
            .plan
            .lookup(&ir.head.relation.name)
            .expect("resolved by the caller");
        let mut fields = Vec::new();
        let mut aggregate = None;
        for (i, arg) in ir.head.args.iter().enumerate() {
            if let ExprKind::Aggregate(kind, var) = &arg.kind {
                if aggregate.is_some() {
                    return Err(PlanError::MultipleAggregates { span: arg.span });
                }
                // The least or greatest of some addresses can say where
                // the result goes (SOSP 2005's Chord); a count or a sum
                // cannot.
                let picks_a_value =
                    matches!(kind, ast::AggregateKind::Min | ast::AggregateKind::Max);
                if i == 0 && !(picks_a_value && var.is_some()) {
                    return Err(PlanError::AggregateLocation { span: arg.span });
                }
                if ir.delete {
                    return Err(PlanError::AggregateDelete { span: arg.span });
                }
                let var = match var {
                    None => None,
                    Some(v) if bound.contains(&v.name) => Some(self.var(&v.name)),
                    Some(v) => {
                        return Err(PlanError::AggregateUnbound {
                            var: v.name.clone(),
                            span: v.span,
                        });
                    }
                };
                aggregate = Some(Aggregate {
                    position: i,
                    function: match kind {
                        ast::AggregateKind::Min => AggregateFn::Min,
                        ast::AggregateKind::Max => AggregateFn::Max,
                        ast::AggregateKind::Count => AggregateFn::Count,
                        ast::AggregateKind::Sum => AggregateFn::Sum,
                        ast::AggregateKind::Avg => AggregateFn::Avg,
                    },
                    var,
                });
                fields.push(Expr::Const(Value::Null));
                continue;
            }
            if let Some(span) = find_wildcard(arg) {
                return Err(PlanError::WildcardHead { span });
            }
            let mut vars = Vec::new();
            expr_vars(arg, &mut vars);
            if let Some((v, span)) = vars.into_iter().find(|(v, _)| !bound.contains(v)) {
                return Err(PlanError::UnboundHead { var: v, span });
            }
            fields.push(self.expr(arg)?);
        }
        let kind = &self.c.plan.relation(rel).kind;
        let local = LocTerm::of(&ir.head.args[0]) == ir.location && ir.location != LocTerm::Other;
        let route = match (local, kind) {
            (true, RelationKind::Table(_)) => Route::LocalTable,
            (true, _) => Route::LocalEvent,
            (false, _) => Route::Send,
        };
        Ok(Head {
            relation: rel,
            fields,
            aggregate,
            route,
            delete: ir.delete,
        })
    }

    fn expr(&mut self, e: &ast::Expr) -> Result<Expr, PlanError> {
        Ok(match &e.kind {
            ExprKind::Var(v) => Expr::Var(self.var(v)),
            ExprKind::Literal(v) => Expr::Const(v.clone()),
            ExprKind::NodeParam(p) => Expr::Param(self.c.param(p)),
            ExprKind::Wildcard => {
                return Err(PlanError::UnboundCondition {
                    var: "_".into(),
                    span: e.span,
                });
            }
            ExprKind::Unary(op, a) => Expr::Unary(*op, Box::new(self.expr(a)?)),
            ExprKind::Binary(op, a, b) => {
                let (a, b) = (Box::new(self.expr(a)?), Box::new(self.expr(b)?));
                match op {
                    ast::BinaryOp::And => Expr::And(a, b),
                    ast::BinaryOp::Or => Expr::Or(a, b),
                    _ => Expr::Binary(*op, a, b),
                }
            }
            ExprKind::Call(name, args) => {
                let Some(f) = trellis_value::builtin(&name.name) else {
                    return Err(PlanError::UnknownFunction {
                        name: name.name.clone(),
                        hint: function_hint(&name.name),
                        span: name.span,
                    });
                };
                if args.len() < f.arity.min || args.len() > f.arity.max {
                    let expected = match (f.arity.min, f.arity.max) {
                        (0, 0) => "no arguments".to_string(),
                        (a, b) if a == b => arguments(a),
                        (a, b) => format!("{a} to {b} arguments"),
                    };
                    return Err(PlanError::FunctionArity {
                        name: name.name.clone(),
                        expected,
                        given: arguments(args.len()),
                        summary: f.summary.to_string(),
                        span: e.span,
                    });
                }
                let args = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<Vec<_>, _>>()?;
                Expr::Call(Function(f), args)
            }
            ExprKind::In {
                value,
                low,
                high,
                low_closed,
                high_closed,
            } => Expr::In {
                value: Box::new(self.expr(value)?),
                low: Box::new(self.expr(low)?),
                high: Box::new(self.expr(high)?),
                low_closed: *low_closed,
                high_closed: *high_closed,
            },
            ExprKind::Aggregate(..) => {
                return Err(PlanError::MultipleAggregates { span: e.span });
            }
        })
    }

    /// A strand: scan atom `first`, then join the rest greedily (most bound
    /// columns first), placing conditions and assignments as soon as their
    /// variables are bound, and `notin` checks once theirs are. Linear in
    /// the rule's size but for a logarithm (a rule of a thousand atoms has
    /// a thousand strands: docs/language.md §3, planning time).
    fn strand(
        &mut self,
        uses: &JoinUses,
        trigger: Option<usize>,
        first: usize,
        rows: impl Fn(usize) -> Rows,
        mark_group: Option<&BTreeSet<VarId>>,
        events_last: Option<&[bool]>,
    ) -> Result<Strand, PlanError> {
        let ir = self.ir;
        let mut steps = Vec::new();
        let mut bound = Bound::new(uses, ir);
        let mut marked = mark_group.is_none();
        // Still to place, in body order.
        let mut conds: Vec<usize> = (0..ir.conds.len()).collect();
        let mut notins: Vec<usize> = (0..ir.atoms.len())
            .filter(|&i| ir.atoms[i].negated)
            .collect();
        let mut positive_left = ir.atoms.len() - notins.len();

        let pattern = |bound: &Bound, args: &[ast::Expr], b: &mut Self| {
            let mut seen_here: Vec<VarId> = Vec::new();
            args.iter()
                .map(|arg| match &arg.kind {
                    ExprKind::Var(v) => {
                        let id = b.var(v);
                        if bound.contains(id) || seen_here.contains(&id) {
                            Field::Check(id)
                        } else {
                            seen_here.push(id);
                            Field::Bind(id)
                        }
                    }
                    ExprKind::Literal(c) => Field::Const(c.clone()),
                    ExprKind::NodeParam(p) => Field::Param(b.c.param(p)),
                    _ => Field::Any,
                })
                .collect::<Vec<_>>()
        };

        let a = &ir.atoms[first];
        let pat = pattern(&bound, &a.args, self);
        steps.push(Step::Scan {
            atom: first,
            rows: if trigger.is_some() {
                Rows::All
            } else {
                rows(first)
            },
            pattern: pat,
        });
        bound.join(first);
        positive_left -= 1;

        loop {
            // Conditions and assignments whose inputs are bound, in body order.
            let mut progress = true;
            while progress {
                progress = false;
                if !marked {
                    let group = mark_group.expect("checked by `marked`");
                    if group.iter().all(|v| bound.contains(*v)) {
                        steps.push(Step::MarkGroup);
                        marked = true;
                    }
                }
                // Selections first: they prune before assignments compute.
                // A random draw waits for every join, so each derivation
                // draws its own (not one draw shared by all).
                let all_joined = positive_left == 0;
                let ready = |i: usize, bound: &Bound| {
                    uses.cond_vars[i].iter().all(|v| bound.contains(*v))
                        && (all_joined || !uses.cond_draws_random[i])
                };
                let filters_ready = conds
                    .iter()
                    .any(|&i| matches!(ir.conds[i], CondIr::Filter(_)) && ready(i, &bound));
                let mut placed = Vec::new();
                for &i in &conds {
                    let c = &ir.conds[i];
                    if !ready(i, &bound) || (filters_ready && matches!(c, CondIr::Assign(..))) {
                        continue;
                    }
                    placed.push(i);
                    progress = true;
                    match c {
                        CondIr::Filter(e) => {
                            let e = self.expr(e)?;
                            steps.push(Step::Filter(e));
                        }
                        CondIr::Assign(var, e) => {
                            let e = self.expr(e)?;
                            let id = self.var(&var.name);
                            steps.push(Step::Assign(id, e));
                            bound.bind(id);
                        }
                    }
                }
                conds.retain(|i| !placed.contains(i));
                let mut checked = Vec::new();
                for &i in &notins {
                    if !uses.atom_vars[i].iter().all(|v| bound.contains(*v)) {
                        continue;
                    }
                    checked.push(i);
                    progress = true;
                    let a = &ir.atoms[i];
                    let pat = pattern(&bound, &a.args, self);
                    let (index, key) = self.index_for(a.relation, &pat);
                    steps.push(Step::NotIn {
                        atom: i,
                        index,
                        key,
                        pattern: pat,
                    });
                }
                notins.retain(|i| !checked.contains(i));
            }
            // The next positive atom: the one with the most bound columns
            // (a table before any event, when `events_last` says which).
            let next = match events_last {
                Some(is_event) => bound.best_next_where(|i| !is_event[i]),
                None => None,
            };
            let Some(i) = next.or_else(|| bound.best_next()) else {
                break;
            };
            // The empty-group rule is about groups the triggering event
            // binds by itself: once another atom is joined, it is too late.
            marked = true;
            let a = &ir.atoms[i];
            let pat = pattern(&bound, &a.args, self);
            let (index, key) = self.index_for(a.relation, &pat);
            steps.push(Step::Join {
                atom: i,
                index,
                key,
                rows: rows(i),
                pattern: pat,
            });
            bound.join(i);
            positive_left -= 1;
        }
        debug_assert!(conds.is_empty(), "safety was checked");
        Ok(Strand { trigger, steps })
    }
}

/// What a rule's strands need to order their joins, worked out once per
/// rule (a rule of a thousand table atoms has a thousand strands).
struct JoinUses {
    /// Per variable, the positive atoms that use it after their location
    /// column, once per use.
    by_var: Vec<Vec<usize>>,
    /// Per atom, its constant columns after the location.
    constants: Vec<usize>,
    /// Per atom, its variables.
    atom_vars: Vec<Vec<VarId>>,
    /// Per condition, its variables, and whether it draws a random number.
    cond_vars: Vec<Vec<VarId>>,
    cond_draws_random: Vec<bool>,
}

impl JoinUses {
    fn new(ir: &RuleIr, mut var: impl FnMut(&str) -> VarId) -> JoinUses {
        let mut by_var: Vec<Vec<usize>> = Vec::new();
        let mut constants = vec![0; ir.atoms.len()];
        for (i, a) in ir.atoms.iter().enumerate() {
            if a.negated {
                continue;
            }
            for arg in a.args.iter().skip(1) {
                match &arg.kind {
                    ExprKind::Var(v) => {
                        let id = var(v) as usize;
                        if by_var.len() <= id {
                            by_var.resize(id + 1, Vec::new());
                        }
                        by_var[id].push(i);
                    }
                    ExprKind::Literal(_) | ExprKind::NodeParam(_) => constants[i] += 1,
                    _ => {}
                }
            }
        }
        let atom_vars = ir
            .atoms
            .iter()
            .map(|a| atom_vars(&a.args).map(&mut var).collect())
            .collect();
        let cond_vars = ir
            .conds
            .iter()
            .map(|c| c.vars().iter().map(|(v, _)| var(v)).collect())
            .collect();
        let cond_draws_random = ir.conds.iter().map(CondIr::draws_random).collect();
        JoinUses {
            by_var,
            constants,
            atom_vars,
            cond_vars,
            cond_draws_random,
        }
    }
}

/// The variables a strand has bound so far, and for every positive atom
/// not yet joined how many of its columns (after the location) are bound or
/// constant, kept up to date as variables are bound, so the next join is
/// found without rescanning the body.
struct Bound<'u> {
    uses: &'u JoinUses,
    vars: Vec<bool>,
    score: Vec<usize>,
    /// Unjoined positive atoms by (score, earliest first).
    waiting: BTreeSet<(usize, Reverse<usize>)>,
}

impl<'u> Bound<'u> {
    fn new(uses: &'u JoinUses, ir: &RuleIr) -> Bound<'u> {
        let score = uses.constants.clone();
        let waiting = (0..ir.atoms.len())
            .filter(|&i| !ir.atoms[i].negated)
            .map(|i| (score[i], Reverse(i)))
            .collect();
        Bound {
            uses,
            vars: Vec::new(),
            score,
            waiting,
        }
    }

    fn contains(&self, v: VarId) -> bool {
        self.vars.get(v as usize).copied().unwrap_or(false)
    }

    fn bind(&mut self, v: VarId) {
        let v = v as usize;
        if self.vars.len() <= v {
            self.vars.resize(v + 1, false);
        }
        if std::mem::replace(&mut self.vars[v], true) {
            return;
        }
        for &i in self.uses.by_var.get(v).into_iter().flatten() {
            let waiting = self.waiting.remove(&(self.score[i], Reverse(i)));
            self.score[i] += 1;
            if waiting {
                self.waiting.insert((self.score[i], Reverse(i)));
            }
        }
    }

    /// Atom `i` is joined (or scanned): its variables are bound.
    fn join(&mut self, i: usize) {
        self.waiting.remove(&(self.score[i], Reverse(i)));
        for &v in &self.uses.atom_vars[i] {
            self.bind(v);
        }
    }

    fn best_next(&self) -> Option<usize> {
        self.waiting.last().map(|(_, Reverse(i))| *i)
    }

    fn best_next_where(&self, take: impl Fn(usize) -> bool) -> Option<usize> {
        self.waiting
            .iter()
            .rev()
            .map(|(_, Reverse(i))| *i)
            .find(|&i| take(i))
    }
}

fn plan_expr_vars(e: &Expr, out: &mut BTreeSet<VarId>) {
    match e {
        Expr::Var(v) => {
            out.insert(*v);
        }
        Expr::Const(_) | Expr::Param(_) => {}
        Expr::Unary(_, a) => plan_expr_vars(a, out),
        Expr::Binary(_, a, b) | Expr::And(a, b) | Expr::Or(a, b) => {
            plan_expr_vars(a, out);
            plan_expr_vars(b, out);
        }
        Expr::Call(_, args) => args.iter().for_each(|a| plan_expr_vars(a, out)),
        Expr::In {
            value, low, high, ..
        } => {
            plan_expr_vars(value, out);
            plan_expr_vars(low, out);
            plan_expr_vars(high, out);
        }
    }
}

fn find_wildcard(e: &ast::Expr) -> Option<Span> {
    e.subexpressions()
        .into_iter()
        .find(|e| matches!(e.kind, ExprKind::Wildcard))
        .map(|e| e.span)
}

fn wildcard_in(c: &CondIr) -> Option<Span> {
    match c {
        CondIr::Filter(e) | CondIr::Assign(_, e) => find_wildcard(e),
    }
}

/// "1 argument", "2 arguments".
fn arguments(n: usize) -> String {
    format!("{n} argument{}", if n == 1 { "" } else { "s" })
}

/// "did you mean ...?" for an unknown function.
fn function_hint(name: &str) -> String {
    let best = trellis_value::builtins()
        .iter()
        .map(|b| (strsim::levenshtein(name, b.name), b.name))
        .min();
    match best {
        Some((d, n)) if d <= 3 => format!("did you mean `{n}`?"),
        _ => {
            let names: Vec<&str> = trellis_value::builtins().iter().map(|b| b.name).collect();
            format!("the built-in functions are {}", names.join(", "))
        }
    }
}
