//! Declarations: every relation a program names, with its kind and arity.
//! `materialize` declares tables (lifetime, size, keys); any other name is an
//! event, declared where it is first used, and every later use must agree on
//! its arity. Facts, `periodic` timers and node parameters are registered
//! here, `watch`, `trace` and `channel` attach to declared relations, and a
//! relation read but never derived is a warning.

use std::collections::BTreeSet;

use trellis_syntax::Span;
use trellis_syntax::ast::{self, BodyElem, ExprKind};
use trellis_value::Value;

use super::localize::LocTerm;
use super::{AtomIr, Compiler, PERIODIC};
use crate::error::PlanError;
use crate::plan::*;
use crate::provenance::{
    ProvenanceLimits, RULE_EXEC, TUPLE_TABLE, provenance_arity, provenance_spec,
};

impl Compiler<'_> {
    pub(super) fn add_relation(
        &mut self,
        name: &str,
        arity: usize,
        kind: RelationKind,
        generated: bool,
        span: Option<Span>,
    ) -> RelId {
        let id = RelId(self.plan.relations.len() as u32);
        self.plan.relations.push(Relation {
            name: name.to_string(),
            arity,
            kind,
            watch: None,
            channel: None,
            generated,
            watch_only: false,
            indexes: Vec::new(),
            stratum: 0,
            span,
            traced: false,
        });
        self.plan.by_name.insert(name.to_string(), id);
        self.first_use.push(span);
        self.derived.push(generated);
        id
    }

    fn where_is(&self, span: Span) -> String {
        let (line, col) = self.sources.line_col(span);
        format!("at {}:{line}:{col}", self.sources.get(span.file).name)
    }

    /// Resolve a relation use, declaring it (as an event) on first sight and
    /// checking its arity against earlier uses.
    pub(super) fn use_relation(&mut self, name: &ast::Ident, arity: usize) -> Option<RelId> {
        let id = match self.plan.lookup(&name.name) {
            Some(id) => id,
            None => {
                return Some(self.add_relation(
                    &name.name,
                    arity,
                    RelationKind::Event,
                    false,
                    Some(name.span),
                ));
            }
        };
        let idx = id.0 as usize;
        if self.plan.relations[idx].kind == RelationKind::Periodic {
            return Some(id);
        }
        if self.first_use[idx].is_none() {
            // Declared by `materialize` only so far: this use fixes the arity
            // (a provenance table Trellis declared has its own).
            let builtin = self.plan.relations[idx].span.is_none();
            if let Some(fixed) = provenance_arity(&name.name).filter(|_| builtin)
                && fixed != arity
            {
                self.errors.push(PlanError::Arity {
                    relation: name.name.clone(),
                    expected: fixed,
                    found: arity,
                    first: "as Trellis declares it (docs/language.md §8)".to_string(),
                    span: name.span,
                });
                return None;
            }
            self.first_use[idx] = Some(name.span);
            self.plan.relations[idx].arity = arity;
            return Some(id);
        }
        let expected = self.plan.relations[idx].arity;
        if expected != arity {
            let first = self.where_is(self.first_use[idx].expect("set above"));
            self.errors.push(PlanError::Arity {
                relation: name.name.clone(),
                expected,
                found: arity,
                first,
                span: name.span,
            });
            return None;
        }
        Some(id)
    }

    /// `ruleExec` and `tupleTable`, when the program reads or writes
    /// either, but for what it materialized itself. (A live node asked why keeps
    /// them too: `Plan::keep_provenance_tables`.)
    pub(super) fn declare_provenance(&mut self, program: &ast::Program) {
        let mentions = |name: &str| {
            program.statements.iter().any(|st| match st {
                ast::Statement::Rule(r) => {
                    r.head.relation.name == name
                        || r.body.iter().any(|el| {
                            matches!(el, BodyElem::Atom(a) | BodyElem::NotIn(a, _)
                                if a.relation.name == name)
                        })
                }
                ast::Statement::Fact(f) => f.atom.relation.name == name,
                _ => false,
            })
        };
        if !mentions(RULE_EXEC) && !mentions(TUPLE_TABLE) {
            return;
        }
        // Both, when either is named: the engine writes them together.
        for name in [RULE_EXEC, TUPLE_TABLE] {
            if self.plan.lookup(name).is_some() {
                continue;
            }
            let spec = provenance_spec(name, ProvenanceLimits::default()).expect("one");
            let arity = provenance_arity(name).expect("one");
            let id = self.add_relation(name, arity, RelationKind::Table(spec), false, None);
            // The engine writes it: never "never derived".
            self.derived[id.0 as usize] = true;
        }
    }

    pub(super) fn declare_table(&mut self, m: &ast::Materialize) {
        if m.name.name == PERIODIC {
            self.errors.push(PlanError::BuiltinRelation {
                relation: PERIODIC.into(),
                what: "materialized",
                span: m.name.span,
            });
            return;
        }
        if self.plan.lookup(&m.name.name).is_some() {
            self.errors.push(PlanError::DuplicateMaterialize {
                relation: m.name.name.clone(),
                span: m.span,
            });
            return;
        }
        let lifetime_nanos = match m.lifetime {
            ast::Lifetime::Infinite => None,
            ast::Lifetime::Seconds(s) if s.is_finite() && s > 0.0 => {
                Some((s * 1e9).round().max(1.0) as u64)
            }
            ast::Lifetime::Seconds(s) => {
                self.errors.push(PlanError::Lifetime {
                    problem: format!("{s} is not a positive number of seconds"),
                    span: m.lifetime_span,
                });
                None
            }
        };
        let max_size = match m.max_size {
            ast::MaxSize::Infinite => None,
            ast::MaxSize::Count(n) if n > 0 => Some(n as usize),
            ast::MaxSize::Count(n) => {
                self.errors.push(PlanError::MaxSize {
                    problem: format!("{n} is not a positive count"),
                    span: m.max_size_span,
                });
                None
            }
        };
        let id = self.add_relation(
            &m.name.name,
            0,
            RelationKind::Table(TableSpec {
                lifetime_nanos,
                max_size,
                key: Vec::new(),
                lattices: Vec::new(),
            }),
            false,
            None,
        );
        self.plan.relations[id.0 as usize].span = Some(m.name.span);
        self.derived[id.0 as usize] = true;
        let key = m.keys.iter().flatten();
        let key = key
            .filter(|k| k.position >= 1)
            .map(|k| k.position as usize - 1);
        self.declared_keys.insert(id, key.collect());
    }

    /// Keys are checked once every use has fixed the table's arity.
    pub(super) fn check_tables(&mut self, program: &ast::Program) {
        for st in &program.statements {
            let ast::Statement::Materialize(m) = st else {
                continue;
            };
            let Some(id) = self.plan.lookup(&m.name.name) else {
                continue;
            };
            let idx = id.0 as usize;
            if self.plan.relations[idx].span != Some(m.name.span) {
                continue; // a duplicate declaration, already reported
            }
            let used = self.first_use[idx].is_some();
            let positions: Vec<&ast::KeyField> = m.keys.iter().flatten().collect();
            if !used {
                // Never used: its arity is whatever the keys and lattices need.
                let lattices = program.statements.iter().filter_map(|st| match st {
                    ast::Statement::Lattice(l) if l.relation.name == m.name.name => {
                        Some(l.position)
                    }
                    _ => None,
                });
                let arity = positions
                    .iter()
                    .map(|k| k.position)
                    .chain(lattices)
                    .map(|p| p.clamp(1, 1 << 16) as usize)
                    .max()
                    .unwrap_or(1);
                self.plan.relations[idx].arity = arity;
            }
            let arity = self.plan.relations[idx].arity;
            let mut key = Vec::new();
            for k in positions {
                if k.position < 1 || k.position as usize > arity {
                    self.errors.push(PlanError::KeyPosition {
                        relation: m.name.name.clone(),
                        position: k.position,
                        arity,
                        span: k.span,
                    });
                } else {
                    key.push(k.position as usize - 1);
                }
            }
            // No keys, or `keys()`: every field is part of the key.
            if key.is_empty() {
                key = (0..arity).collect();
            }
            key.sort_unstable();
            key.dedup();
            if let RelationKind::Table(spec) = &mut self.plan.relations[idx].kind {
                spec.key = key;
            }
        }
    }

    pub(super) fn watch(&mut self, w: &ast::Watch) {
        let id = match self.plan.lookup(&w.relation.name) {
            Some(id) => id,
            None => {
                // P2 keeps what arrives of it, for the watch to print.
                self.warnings.push(PlanError::WatchUnknown {
                    relation: w.relation.name.clone(),
                    span: w.relation.span,
                });
                let id = self.add_relation(
                    &w.relation.name,
                    0,
                    RelationKind::Event,
                    false,
                    Some(w.relation.span),
                );
                self.plan.relations[id.0 as usize].watch_only = true;
                id
            }
        };
        let relation = &self.plan.relations[id.0 as usize];
        let modes = match &w.modes {
            None => WatchModes::PLAIN,
            Some((letters, _)) if letters.is_empty() => WatchModes::PLAIN,
            Some((letters, span)) => {
                let table = matches!(relation.kind, RelationKind::Table(_));
                let periodic = relation.kind == RelationKind::Periodic;
                if letters.contains('p') && !periodic {
                    self.warnings.push(PlanError::WatchPeriodicLetter {
                        relation: w.relation.name.clone(),
                        span: *span,
                    });
                }
                watch_letters(letters, table, periodic)
            }
        };
        // Watched twice (`watch` and `watchmod`): both print.
        let modes = match self.plan.relations[id.0 as usize].watch {
            Some(earlier) => earlier.union(modes),
            None => modes,
        };
        self.plan.relations[id.0 as usize].watch = Some(modes);
    }

    pub(super) fn channel(&mut self, c: &ast::ChannelDecl) {
        // A misspelt name would silently keep the run's transport: an error.
        let Some(id) = self.plan.lookup(&c.relation.name) else {
            self.errors.push(PlanError::ChannelUnknown {
                relation: c.relation.name.clone(),
                span: c.relation.span,
            });
            return;
        };
        let relation = &mut self.plan.relations[id.0 as usize];
        if relation.kind == RelationKind::Periodic {
            self.errors.push(PlanError::BuiltinRelation {
                relation: PERIODIC.into(),
                what: "given a channel",
                span: c.relation.span,
            });
            return;
        }
        match relation.channel {
            Some(earlier) if earlier != c.channel => {
                self.errors.push(PlanError::ChannelConflict {
                    relation: c.relation.name.clone(),
                    earlier,
                    span: c.channel_span,
                });
            }
            _ => relation.channel = Some(c.channel),
        }
    }

    /// `external(name)`: `name` is injected from outside, so it is not
    /// reported as never derived.
    pub(super) fn external(&mut self, e: &ast::External) {
        match self.plan.lookup(&e.relation.name) {
            Some(id) => self.derived[id.0 as usize] = true,
            None => self.warnings.push(PlanError::ExternalUnknown {
                relation: e.relation.name.clone(),
                span: e.relation.span,
            }),
        }
    }

    /// `semantics(p2).`: one per program, or several that agree.
    pub(super) fn semantics(&mut self, s: &ast::SemanticsDecl) {
        match self.semantics_span {
            Some(_) if self.plan.semantics != s.semantics => {
                self.errors.push(PlanError::SemanticsConflict {
                    earlier: self.plan.semantics,
                    span: s.semantics_span,
                });
            }
            _ => {
                self.plan.semantics = s.semantics;
                self.semantics_span = Some(s.semantics_span);
            }
        }
    }

    pub(super) fn never_derived(&mut self, program: &ast::Program) {
        let mut reported = BTreeSet::new();
        for st in &program.statements {
            let ast::Statement::Rule(r) = st else {
                continue;
            };
            for el in &r.body {
                let (BodyElem::Atom(a) | BodyElem::NotIn(a, _)) = el else {
                    continue;
                };
                let Some(id) = self.plan.lookup(&a.relation.name) else {
                    continue;
                };
                let idx = id.0 as usize;
                if self.plan.relations[idx].kind != RelationKind::Event
                    || self.derived[idx]
                    || !reported.insert(idx)
                {
                    continue;
                }
                self.warnings.push(PlanError::NeverDerived {
                    relation: a.relation.name.clone(),
                    hint: format!(
                        "check the spelling; if `{0}` comes from outside (`--fact`, `trellis inject`), \
                         declare it with `external({0}).`",
                        a.relation.name
                    ),
                    span: a.relation.span,
                });
            }
        }
    }

    pub(super) fn fact(&mut self, f: &ast::Fact) {
        if f.atom.relation.name == PERIODIC {
            self.errors.push(PlanError::BuiltinRelation {
                relation: PERIODIC.into(),
                what: "given as a fact",
                span: f.atom.relation.span,
            });
            return;
        }
        let Some(rel) = self.use_relation(&f.atom.relation, f.atom.args.len()) else {
            return;
        };
        self.derived[rel.0 as usize] = true;
        let mut fields = Vec::new();
        for arg in &f.atom.args {
            match &arg.kind {
                ExprKind::Literal(v) => fields.push(Expr::Const(v.clone())),
                ExprKind::NodeParam(p) => fields.push(Expr::Param(self.param(p))),
                _ => unreachable!("the parser admits only constants and macros in facts"),
            }
        }
        self.plan.facts.push(FactPlan {
            relation: rel,
            fields,
            span: f.span,
        });
    }

    pub(super) fn param(&mut self, name: &str) -> u32 {
        if let Some(i) = self.plan.node_params.iter().position(|p| p == name) {
            return i as u32;
        }
        self.plan.node_params.push(name.to_string());
        self.plan.node_params.len() as u32 - 1
    }

    pub(super) fn body_atom(&mut self, a: &ast::Atom, negated: bool) -> Option<AtomIr> {
        let mut args = a.args.clone();
        if a.relation.name == PERIODIC {
            if negated {
                self.errors.push(PlanError::Periodic {
                    problem: "it cannot be negated".into(),
                    span: a.span,
                });
                return None;
            }
            self.periodic(a, &mut args)?;
        }
        let relation = self.use_relation(&a.relation, args.len())?;
        if !matches!(
            LocTerm::of(&args[0]),
            LocTerm::Var(_) | LocTerm::Const(Value::Str(_)) | LocTerm::Param(_)
        ) {
            self.errors
                .push(PlanError::BadLocation { span: args[0].span });
            return None;
        }
        Some(AtomIr {
            relation,
            negated,
            args,
        })
    }

    /// Check a `periodic` atom, register its timer, and pad it to four fields.
    fn periodic(&mut self, a: &ast::Atom, args: &mut Vec<ast::Expr>) -> Option<()> {
        let fail = |problem: &str, span| PlanError::Periodic {
            problem: problem.into(),
            span,
        };
        if args.len() != 3 && args.len() != 4 {
            self.errors
                .push(fail(&format!("it is given {} fields", args.len()), a.span));
            return None;
        }
        let period = match &args[2].kind {
            ExprKind::Literal(v @ (Value::Int(_) | Value::Float(_))) => v.clone(),
            _ => {
                self.errors
                    .push(fail("the period must be a number", args[2].span));
                return None;
            }
        };
        let seconds = match period {
            Value::Int(i) => i as f64,
            Value::Float(f) => f,
            _ => unreachable!("matched above"),
        };
        if !(seconds.is_finite() && seconds >= 0.0) {
            self.errors
                .push(fail("the period must be zero or positive", args[2].span));
            return None;
        }
        // Timers count in nanoseconds: a positive period that rounds to 0 ns
        // would fire forever at one instant and hang a virtual-clock run.
        if seconds > 0.0 && (seconds * 1e9).round() == 0.0 {
            self.errors.push(fail(
                "the period is under a nanosecond, the clock's resolution (write 0 with a count \
                 to fire at one instant)",
                args[2].span,
            ));
            return None;
        }
        let count_value = args.get(3).map(|c| (c.kind.clone(), c.span));
        let count = match &count_value {
            None => 0,
            Some((ExprKind::Literal(Value::Int(n)), _)) if *n >= 0 => *n as u64,
            Some((_, span)) => {
                self.errors
                    .push(fail("the count must be a non-negative integer", *span));
                return None;
            }
        };
        if seconds == 0.0 && count == 0 {
            self.errors.push(fail(
                "a period of 0 fires at one instant, so it needs a count (a count of 0 is forever)",
                args[2].span,
            ));
            return None;
        }
        let count_value = count_value.map(|(k, _)| match k {
            ExprKind::Literal(v) => v,
            _ => unreachable!("checked above"),
        });
        let key = (
            period.literal(),
            count_value.as_ref().map_or(String::new(), Value::literal),
        );
        if !self.timers.contains_key(&key) {
            self.timers.insert(key, self.plan.timers.len());
            self.plan.timers.push(Timer {
                period_nanos: (seconds * 1e9).round() as u64,
                count,
                period,
                count_value: count_value.clone(),
            });
        }
        if args.len() == 3 {
            args.push(ast::Expr {
                kind: ExprKind::Literal(Value::Int(0)),
                span: a.span,
            });
        }
        Some(())
    }
}

/// P2's `watchmod` letters (P2's user guide, "Watches"; its planner's
/// `watched(name, letter)` taps) as Trellis happenings. `b`, `j` and `h` tap
/// P2's dataflow around a rule's join; their counterparts here are the
/// tuple entering the tick where rules join it (`b`) and the tuple a rule
/// head derives (`j`, `h`): an event, or a write about to be applied.
fn watch_letters(letters: &str, table: bool, periodic: bool) -> WatchModes {
    let has = |c: char| letters.contains(c);
    let head = has('h') || has('j');
    WatchModes {
        insert: has('i') || (has('b') && table),
        refresh: has('r'),
        delete: has('d'),
        event: has('e') || (has('p') && periodic) || ((has('b') || head) && !table),
        send: has('s'),
        receive: has('c'),
        add: has('a') || (head && table),
        remove: has('z') || (head && table),
    }
}
