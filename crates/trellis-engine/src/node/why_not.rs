//! Why does a tuple *not* exist on a node now? (negative provenance, as in
//! the Y! system; docs/provenance.md, "why-not").
//!
//! For each rule that derives the relation, the engine's own strands run
//! over the node's current tables with the head's fields bound to the
//! tuple asked about (a bound variable's first occurrence becomes a test),
//! and a [`Probe`] notes the furthest step any match reached: that step is
//! where the derivation is blocked, by a body atom with no match, a
//! `notin` that found one, a condition that was false, or a runtime error.
//! Events are gone between ticks, so a rule triggered by an event is
//! blocked at that event, and the question goes on to the event (the
//! caller follows it, across nodes: [`Blocked::NoMatch`]).

use std::sync::Arc;

use trellis_plan::{Expr, Field, RelId, Route, RuleId, RulePlan, Step, expr_to_string};
use trellis_value::{BinaryOp, Value};

use super::Node;
use crate::eval::{Ctx, Deltas, Probe, RuleError, Sink, exec, matches};
use crate::rounds::Rounds;
use crate::{Sends, Tuple};

/// What one rule would need to derive the tuple asked about, evaluated on
/// one node.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleAbsence {
    pub rule: RuleId,
    /// The node whose tables were read.
    pub node: Arc<str>,
    pub blocked: Blocked,
    /// The variables bound where it stopped (name, value), in the rule's
    /// order.
    pub bindings: Vec<(String, Value)>,
    /// How many of its steps some match passed: how close it came.
    pub reached: usize,
}

/// Where a rule's derivation of the tuple stops.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocked {
    /// No tuple of body atom `atom` (of `relation`) matched `pattern`
    /// (`None` for a field anything would match).
    NoMatch {
        atom: usize,
        relation: RelId,
        pattern: Vec<Option<Value>>,
    },
    /// `notin` found `found`.
    Negated {
        atom: usize,
        relation: RelId,
        found: Tuple,
    },
    /// A condition was false (its text).
    Condition(String),
    /// Evaluating the rule failed.
    Error(RuleError),
    /// The head is fixed to something else (a constant field, or a head
    /// expression whose value differs): this rule never makes the tuple.
    OtherTuples,
    /// The body matches now: the rule derives it (the tuple exists from the
    /// next tick, or was sent: a lost message, or one still in flight).
    Derives,
    /// The body is on a node the caller was not given (it is down).
    Elsewhere,
}

/// Why `relation(pattern)` is not on a node: for each rule that derives
/// it, where that rule stops, and below a missing body tuple the same
/// question for it, on the node that would have it.
#[derive(Debug, Clone, PartialEq)]
pub struct WhyNot {
    pub node: Arc<str>,
    pub relation: RelId,
    pub pattern: Vec<Option<Value>>,
    /// A row of the table matches: the tuple is there after all.
    pub exists: bool,
    /// No rule derives the relation: its tuples only arrive (facts,
    /// injections, another program's sends).
    pub arrives_only: bool,
    pub rules: Vec<RuleWhyNot>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleWhyNot {
    /// Where it stopped on the node its body runs on; for a rule that
    /// sends the tuple from a node the tuple does not name, on the node
    /// where it came closest (of `tied` that came as close).
    pub absence: RuleAbsence,
    pub tied: usize,
    /// Why the missing body tuple is missing, when the rule stopped at one
    /// and the depth allows.
    pub below: Option<Box<WhyNot>>,
}

/// Ask `node` why `relation(pattern)` is not there, following missing body
/// tuples `depth` levels down, among `nodes` (every live node: a rule that
/// sends the tuple runs on the node its body names, or on any of them when
/// the tuple does not name it).
pub fn why_not<'n>(
    nodes: &[&'n Node],
    node: &'n Node,
    relation: RelId,
    pattern: &[Option<Value>],
    depth: usize,
) -> WhyNot {
    let plan = node.plan();
    let exists = node.tables[relation.0 as usize].as_ref().is_some_and(|t| {
        t.rows().any(|r| {
            r.fields.len() == pattern.len()
                && r.fields
                    .iter()
                    .zip(pattern)
                    .all(|(v, p)| p.as_ref().is_none_or(|p| p == v))
        })
    });
    let deriving: Vec<&RulePlan> = plan
        .rules
        .iter()
        .filter(|r| r.head.relation == relation && !r.head.delete)
        .collect();
    let mut rules = Vec::new();
    for rule in deriving.iter().filter(|_| !exists) {
        let found = match rule.head.route {
            Route::LocalTable | Route::LocalEvent => {
                Some((node.why_not_rule(rule, pattern), node, 1))
            }
            Route::Send => match Node::body_location(rule, pattern) {
                Some(Value::Str(address)) => match nodes.iter().find(|n| *n.address == *address) {
                    Some(at) => Some((at.why_not_rule(rule, pattern), *at, 1)),
                    None => {
                        rules.push(elsewhere(rule, &address));
                        None
                    }
                },
                _ => {
                    let found = closest(nodes, rule, pattern);
                    if found.is_none() {
                        rules.push(elsewhere(rule, ""));
                    }
                    found
                }
            },
        };
        let Some((absence, at, tied)) = found else {
            continue;
        };
        let below = match &absence.blocked {
            Blocked::NoMatch {
                relation, pattern, ..
            } if depth > 0 && tied == 1 => {
                Some(Box::new(why_not(nodes, at, *relation, pattern, depth - 1)))
            }
            _ => None,
        };
        rules.push(RuleWhyNot {
            absence,
            tied,
            below,
        });
    }
    WhyNot {
        node: node.address.clone(),
        relation,
        pattern: pattern.to_vec(),
        exists,
        arrives_only: deriving.is_empty(),
        rules,
    }
}

/// `rule` runs on `node` ("": none), which was not given: it is down.
fn elsewhere(rule: &RulePlan, node: &str) -> RuleWhyNot {
    RuleWhyNot {
        absence: RuleAbsence {
            rule: rule.id,
            node: Arc::from(node),
            blocked: Blocked::Elsewhere,
            bindings: Vec::new(),
            reached: 0,
        },
        tied: 0,
        below: None,
    }
}

/// `rule` on every node: where it came closest, there, and how many
/// nodes came as close (none without nodes).
fn closest<'n>(
    nodes: &[&'n Node],
    rule: &RulePlan,
    pattern: &[Option<Value>],
) -> Option<(RuleAbsence, &'n Node, usize)> {
    let mut best: Option<(RuleAbsence, &'n Node, usize)> = None;
    for &n in nodes {
        let a = n.why_not_rule(rule, pattern);
        match &mut best {
            Some((b, _, tied)) if a.reached == b.reached => *tied += 1,
            Some((b, _, _)) if a.reached < b.reached => {}
            _ => best = Some((a, n, 1)),
        }
    }
    best
}

impl Node {
    /// Where the body of `rule` runs, for the tuple `pattern` of its head:
    /// its location variable's value, when the head binds it.
    pub fn body_location(rule: &RulePlan, pattern: &[Option<Value>]) -> Option<Value> {
        let Some(Step::Scan { pattern: scan, .. }) = rule.strands.first()?.steps.first() else {
            return None;
        };
        match scan.first()? {
            Field::Bind(v) | Field::Check(v) => rule
                .head
                .fields
                .iter()
                .zip(pattern)
                .find(|(f, _)| matches!(f, Expr::Var(w) if w == v))
                .and_then(|(_, p)| p.clone()),
            Field::Const(c) => Some(c.clone()),
            Field::Param(_) | Field::Any => None,
        }
    }

    /// Where `rule`, its body run on this node over its current tables,
    /// stops short of deriving `pattern` (`None` fields match anything).
    /// Of the rule's orders of evaluation (its why-not strands, else its
    /// first strand), the one that gets furthest.
    pub fn why_not_rule(&self, rule: &RulePlan, pattern: &[Option<Value>]) -> RuleAbsence {
        let strands = match rule.why_not.is_empty() {
            true => &rule.strands[..1],
            false => &rule.why_not[..],
        };
        let mut best: Option<RuleAbsence> = None;
        for strand in strands {
            let a = self.why_not_strand(rule, strand, pattern);
            if best.as_ref().is_none_or(|b| a.reached > b.reached) {
                best = Some(a);
            }
        }
        best.expect("a rule has a strand")
    }

    fn why_not_strand(
        &self,
        rule: &RulePlan,
        strand: &trellis_plan::Strand,
        pattern: &[Option<Value>],
    ) -> RuleAbsence {
        let absence = |blocked, bindings, reached| RuleAbsence {
            rule: rule.id,
            node: self.address.clone(),
            blocked,
            bindings,
            reached,
        };
        // The head's fields bind its variables; a fixed field must agree.
        let mut bound = vec![false; rule.var_names.len()];
        let mut regs = vec![Value::Null; rule.var_names.len()];
        for (field, want) in rule.head.fields.iter().zip(pattern) {
            let Some(want) = want else { continue };
            match field {
                Expr::Var(v) if !bound[*v as usize] => {
                    bound[*v as usize] = true;
                    regs[*v as usize] = want.clone();
                }
                Expr::Var(v) if regs[*v as usize] != *want => {
                    return absence(Blocked::OtherTuples, Vec::new(), 0);
                }
                Expr::Const(c) if c != want => {
                    return absence(Blocked::OtherTuples, Vec::new(), 0);
                }
                _ => {}
            }
        }
        // The body runs here: its location variable is this node.
        if let Some(Step::Scan { pattern: scan, .. }) = strand.steps.first()
            && let Some(Field::Bind(v)) = scan.first()
            && !bound[*v as usize]
        {
            bound[*v as usize] = true;
            regs[*v as usize] = Value::Str(self.address.clone());
        }
        let steps: Vec<Step> = strand.steps.iter().map(|s| bind_first(s, &bound)).collect();
        let (probe, derived) = self.probe(rule, &steps, &mut regs);
        let k = steps.len() - probe.left.unwrap_or(steps.len());
        let mut known = bound.clone();
        for step in &steps[..k] {
            binds(step, &mut known);
        }
        let regs = probe.registers;
        let bindings = rule
            .var_names
            .iter()
            .zip(&regs)
            .zip(&known)
            .filter(|(_, known)| **known)
            .map(|((name, value), _)| (name.clone(), value.clone()))
            .collect();
        let blocked = match steps.get(k) {
            None => {
                let wanted = |t: &[Value]| {
                    t.len() == pattern.len()
                        && t.iter()
                            .zip(pattern)
                            .all(|(v, p)| p.as_ref().is_none_or(|p| p == v))
                };
                match derived {
                    Ok(tuples) if tuples.iter().any(|t| wanted(t)) => Blocked::Derives,
                    Ok(_) => Blocked::OtherTuples,
                    Err(e) => Blocked::Error(e),
                }
            }
            Some(
                Step::Scan {
                    atom, pattern: p, ..
                }
                | Step::Join {
                    atom, pattern: p, ..
                },
            ) => Blocked::NoMatch {
                atom: *atom,
                relation: rule.body[*atom].relation,
                pattern: p
                    .iter()
                    .map(|f| self.field_value(f, &regs, &known))
                    .collect(),
            },
            Some(Step::NotIn {
                atom, pattern: p, ..
            }) => {
                let relation = rule.body[*atom].relation;
                let read = vec![false; rule.var_names.len()];
                let mut scratch = regs.clone();
                let found = self.tables[relation.0 as usize]
                    .as_ref()
                    .and_then(|t| {
                        t.rows()
                            .find(|r| matches(p, r.fields, &mut scratch, &self.params, &read))
                            .map(|r| Tuple::from(r.fields))
                    })
                    .unwrap_or_else(|| Tuple::from(Vec::new()));
                Blocked::Negated {
                    atom: *atom,
                    relation,
                    found,
                }
            }
            Some(Step::Filter(e)) => Blocked::Condition(self.expr_text(rule, e)),
            Some(Step::Assign(v, e)) => {
                let text = self.expr_text(rule, e);
                Blocked::Condition(format!("{} := {text}", rule.var_names[*v as usize]))
            }
            Some(Step::MarkGroup) => Blocked::OtherTuples,
        };
        absence(blocked, bindings, k)
    }

    /// Run `steps` (a strand of `rule`, its head bound) over every row of
    /// its trigger, with a probe; the tuples it derived, or its first
    /// runtime error.
    fn probe(
        &self,
        rule: &RulePlan,
        steps: &[Step],
        regs: &mut [Value],
    ) -> (Probe, Result<Vec<Vec<Value>>, RuleError>) {
        let mut env = self.env.clone();
        let mut firings = vec![0; self.plan.rules.len()];
        let mut sink = Sink::new(&mut env, &mut firings);
        sink.probe = Some(Probe::default());
        sink.budget = self.config.max_derivations_per_tick;
        let rounds = Rounds::new();
        // No row is new: every row is seen as an old one.
        let ctx = Ctx {
            plan: &self.plan,
            tables: &self.tables,
            events: &self.events,
            params: &self.params,
            read: &self.read,
            tick: u64::MAX,
            window: rounds.window(),
            deltas: Deltas::Stamped,
        };
        let read: Vec<bool> = vec![true; rule.var_names.len()];
        let Some((Step::Scan { atom, pattern, .. }, rest)) = steps.split_first() else {
            unreachable!("a strand starts with a scan");
        };
        let rel = rule.body[*atom].relation;
        let start = regs.to_vec();
        if let Some(table) = &self.tables[rel.0 as usize] {
            for row in table.rows() {
                regs.clone_from_slice(&start);
                if matches(pattern, row.fields, regs, &self.params, &read) {
                    exec(&ctx, &mut sink, rule, rest, regs, true);
                }
            }
        }
        // Not one row matched the scan: it is where the rule is blocked.
        let probe = sink.probe.take().unwrap_or_default();
        let probe = Probe {
            left: probe.left.map(|l| l.min(steps.len())).or(Some(steps.len())),
            registers: if probe.left.is_some() {
                probe.registers
            } else {
                start.clone()
            },
        };
        let derived = match sink.errors.first() {
            Some((_, e))
                if sink.writes.is_empty()
                    && sink.sends.is_empty()
                    && sink.new_events.is_empty() =>
            {
                Err(e.clone())
            }
            _ => Ok(heads(
                &self.plan,
                &sink.writes,
                &sink.write_fields,
                &sink.new_events,
                &sink.sends,
            )),
        };
        (probe, derived)
    }

    fn field_value(&self, f: &Field, regs: &[Value], known: &[bool]) -> Option<Value> {
        match f {
            Field::Bind(v) | Field::Check(v) if known[*v as usize] => {
                Some(regs[*v as usize].clone())
            }
            Field::Bind(_) | Field::Check(_) | Field::Any => None,
            Field::Const(c) => Some(c.clone()),
            Field::Param(p) => Some(self.params[*p as usize].clone()),
        }
    }

    fn expr_text(&self, rule: &RulePlan, e: &Expr) -> String {
        expr_to_string(e, &rule.var_names, &self.plan.node_params)
    }
}

/// What a probe's sink derived, as tuples.
fn heads(
    plan: &trellis_plan::Plan,
    writes: &[crate::eval::Write],
    fields: &[Value],
    events: &[(RelId, Tuple)],
    sends: &Sends,
) -> Vec<Vec<Value>> {
    let writes = writes.iter().filter(|w| !w.delete).map(|w| {
        let arity = plan.relation(w.relation).arity;
        fields[w.start..w.start + arity].to_vec()
    });
    let events = events.iter().map(|(_, t)| t.to_vec());
    let sends = sends.iter().map(|s| s.fields.to_vec());
    writes.chain(events).chain(sends).collect()
}

/// `step` with the first occurrence of a variable already `bound` made a
/// test of it (a pattern's `Bind`, an assignment).
fn bind_first(step: &Step, bound: &[bool]) -> Step {
    let fields = |p: &[Field]| -> Vec<Field> {
        p.iter()
            .map(|f| match f {
                Field::Bind(v) if bound[*v as usize] => Field::Check(*v),
                f => f.clone(),
            })
            .collect()
    };
    match step {
        Step::Scan {
            atom,
            rows,
            pattern,
        } => Step::Scan {
            atom: *atom,
            rows: *rows,
            pattern: fields(pattern),
        },
        Step::Join {
            atom,
            index,
            key,
            rows,
            pattern,
        } => Step::Join {
            atom: *atom,
            index: *index,
            key: key.clone(),
            rows: *rows,
            pattern: fields(pattern),
        },
        Step::Assign(v, e) if bound[*v as usize] => Step::Filter(Expr::Binary(
            BinaryOp::Eq,
            Box::new(Expr::Var(*v)),
            Box::new(e.clone()),
        )),
        step => step.clone(),
    }
}

/// Mark the variables `step` binds.
fn binds(step: &Step, known: &mut [bool]) {
    match step {
        Step::Scan { pattern, .. } | Step::Join { pattern, .. } => {
            for f in pattern {
                if let Field::Bind(v) = f {
                    known[*v as usize] = true;
                }
            }
        }
        Step::Assign(v, _) => known[*v as usize] = true,
        Step::NotIn { .. } | Step::Filter(_) | Step::MarkGroup => {}
    }
}
