//! From the AST to a [`Plan`]: declare relations, check arities, rewrite
//! multi-location rules (localization), check safety, choose join orders and
//! indexes, and stratify.

use std::collections::{BTreeMap, BTreeSet};

use trellis_syntax::ast::{self, BodyElem, ExprKind};
use trellis_syntax::{SourceMap, Span};
use trellis_value::Value;

use crate::error::PlanError;
use crate::plan::*;
use crate::stratify::stratify;

/// The node parameter every node has: its own address.
pub const LOCAL_ADDRESS: &str = "LOCALADDRESS";

/// The name of the built-in timer relation.
pub const PERIODIC: &str = "periodic";

/// A compiled program and the warnings found on the way.
#[derive(Debug)]
pub struct Compiled {
    pub plan: Plan,
    pub warnings: Vec<PlanError>,
}

/// Compilation failed: the errors, and any warnings found as well.
#[derive(Debug)]
pub struct CompileFailure {
    pub errors: Vec<PlanError>,
    pub warnings: Vec<PlanError>,
}

/// Compile a parsed program.
pub fn compile(program: &ast::Program, sources: &SourceMap) -> Result<Compiled, CompileFailure> {
    let mut c = Compiler::new(sources);
    c.run(program);
    let Compiler {
        errors,
        warnings,
        plan,
        ..
    } = c;
    if errors.is_empty() {
        Ok(Compiled { plan, warnings })
    } else {
        Err(CompileFailure { errors, warnings })
    }
}

/// A location as written: rules whose head location equals their body
/// location (syntactically) stay on the node.
#[derive(Debug, Clone, PartialEq)]
enum LocTerm {
    Var(String),
    Const(Value),
    Param(String),
    /// An expression or anything else: never equal to a body location.
    Other,
}

impl LocTerm {
    fn of(expr: &ast::Expr) -> LocTerm {
        match &expr.kind {
            ExprKind::Var(v) => LocTerm::Var(v.clone()),
            ExprKind::Literal(v) => LocTerm::Const(v.clone()),
            ExprKind::NodeParam(p) => LocTerm::Param(p.clone()),
            _ => LocTerm::Other,
        }
    }

    fn describe(&self) -> String {
        match self {
            LocTerm::Var(v) | LocTerm::Param(v) => v.clone(),
            LocTerm::Const(v) => v.literal(),
            LocTerm::Other => "?".into(),
        }
    }
}

/// One rule after localization: a single location.
struct RuleIr {
    name: String,
    origin: Option<String>,
    span: Span,
    location: LocTerm,
    atoms: Vec<AtomIr>,
    conds: Vec<CondIr>,
    head: ast::Atom,
    delete: bool,
}

#[derive(Clone)]
struct AtomIr {
    relation: RelId,
    negated: bool,
    args: Vec<ast::Expr>,
}

#[derive(Clone)]
enum CondIr {
    Filter(ast::Expr),
    Assign(ast::Ident, ast::Expr),
}

impl CondIr {
    /// Whether it calls a built-in that draws from the random source.
    fn draws_random(&self) -> bool {
        let (CondIr::Filter(e) | CondIr::Assign(_, e)) = self;
        e.subexpressions().into_iter().any(|sub| {
            matches!(&sub.kind, ExprKind::Call(f, _)
                if trellis_value::builtin(&f.name).is_some_and(|b| b.is_random()))
        })
    }

    fn vars(&self) -> Vec<(String, Span)> {
        let mut out = Vec::new();
        match self {
            CondIr::Filter(e) | CondIr::Assign(_, e) => expr_vars(e, &mut out),
        }
        out
    }
}

fn expr_vars(e: &ast::Expr, out: &mut Vec<(String, Span)>) {
    for sub in e.subexpressions() {
        match &sub.kind {
            ExprKind::Var(v) => out.push((v.clone(), sub.span)),
            ExprKind::Aggregate(_, Some(v)) => out.push((v.name.clone(), v.span)),
            _ => {}
        }
    }
}

fn atom_vars(args: &[ast::Expr]) -> impl Iterator<Item = &str> {
    args.iter().filter_map(|a| match &a.kind {
        ExprKind::Var(v) => Some(v.as_str()),
        _ => None,
    })
}

struct Compiler<'s> {
    sources: &'s SourceMap,
    plan: Plan,
    errors: Vec<PlanError>,
    warnings: Vec<PlanError>,
    /// Where each relation was first used, to explain arity mismatches.
    first_use: Vec<Option<Span>>,
    /// Whether a rule head, fact or table produces the relation.
    derived: Vec<bool>,
    rule_names: BTreeSet<String>,
    timers: BTreeMap<(String, String), usize>,
}

impl<'s> Compiler<'s> {
    fn new(sources: &'s SourceMap) -> Self {
        let mut c = Compiler {
            sources,
            plan: Plan {
                relations: Vec::new(),
                by_name: BTreeMap::new(),
                rules: Vec::new(),
                strata: Vec::new(),
                facts: Vec::new(),
                timers: Vec::new(),
                node_params: vec![LOCAL_ADDRESS.to_string()],
            },
            errors: Vec::new(),
            warnings: Vec::new(),
            first_use: Vec::new(),
            derived: Vec::new(),
            rule_names: BTreeSet::new(),
            timers: BTreeMap::new(),
        };
        c.add_relation(PERIODIC, 4, RelationKind::Periodic, false, None);
        c
    }

    fn add_relation(
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
            trace: false,
            channel: None,
            generated,
            indexes: Vec::new(),
            stratum: 0,
            span,
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
    fn use_relation(&mut self, name: &ast::Ident, arity: usize) -> Option<RelId> {
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
            // Declared by `materialize` only so far: this use fixes the arity.
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

    fn run(&mut self, program: &ast::Program) {
        use ast::Statement;
        for st in &program.statements {
            if let Statement::Materialize(m) = st {
                self.declare_table(m);
            }
        }
        for st in &program.statements {
            match st {
                Statement::Fact(f) => self.fact(f),
                Statement::Rule(r) => self.rule(r),
                Statement::Materialize(_)
                | Statement::Watch(_)
                | Statement::Trace(_)
                | Statement::Channel(_) => {}
            }
        }
        self.check_tables(program);
        for st in &program.statements {
            match st {
                Statement::Watch(w) => self.watch(w),
                Statement::Channel(c) => self.channel(c),
                Statement::Trace(t) => {
                    if let Some(id) = self.plan.lookup(&t.relation.name) {
                        self.plan.relations[id.0 as usize].trace = true;
                    } else {
                        self.warnings.push(PlanError::WatchUnknown {
                            relation: t.relation.name.clone(),
                            span: t.relation.span,
                        });
                    }
                }
                _ => {}
            }
        }
        self.never_derived(program);
        if self.errors.is_empty()
            && let Err(e) = stratify(&mut self.plan)
        {
            self.errors.push(e);
        }
    }

    fn declare_table(&mut self, m: &ast::Materialize) {
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
            }),
            false,
            None,
        );
        self.plan.relations[id.0 as usize].span = Some(m.name.span);
        self.derived[id.0 as usize] = true;
    }

    /// Keys are checked once every use has fixed the table's arity.
    fn check_tables(&mut self, program: &ast::Program) {
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
                // Never used: its arity is whatever the keys need.
                let arity = positions
                    .iter()
                    .map(|k| k.position.max(1) as usize)
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

    fn watch(&mut self, w: &ast::Watch) {
        let Some(id) = self.plan.lookup(&w.relation.name) else {
            self.warnings.push(PlanError::WatchUnknown {
                relation: w.relation.name.clone(),
                span: w.relation.span,
            });
            return;
        };
        let modes = match &w.modes {
            None => WatchModes::ALL,
            Some((letters, _)) => WatchModes {
                insert: letters.contains('i'),
                delete: letters.contains('d'),
                send: letters.contains('s'),
                receive: letters.contains('r') || letters.contains('c'),
                event: letters.contains('e'),
                aggregate: letters.contains('a'),
            },
        };
        self.plan.relations[id.0 as usize].watch = Some(modes);
    }

    fn channel(&mut self, c: &ast::ChannelDecl) {
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

    fn never_derived(&mut self, program: &ast::Program) {
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
                        "check the spelling; if `{}` comes from outside, inject it with `--fact` or `trellis inject`",
                        a.relation.name
                    ),
                    span: a.relation.span,
                });
            }
        }
    }

    fn fact(&mut self, f: &ast::Fact) {
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

    fn param(&mut self, name: &str) -> u32 {
        if let Some(i) = self.plan.node_params.iter().position(|p| p == name) {
            return i as u32;
        }
        self.plan.node_params.push(name.to_string());
        self.plan.node_params.len() as u32 - 1
    }

    fn rule_name(&mut self, rule: &ast::Rule) -> String {
        let base = match &rule.name {
            Some(n) => n.name.clone(),
            None => format!("rule_L{}", self.sources.line_col(rule.span).0),
        };
        if self.rule_names.insert(base.clone()) {
            return base;
        }
        let renamed = (2..)
            .map(|i| format!("{base}#{i}"))
            .find(|n| !self.rule_names.contains(n))
            .expect("an unused suffix exists");
        self.rule_names.insert(renamed.clone());
        if let Some(n) = &rule.name {
            self.warnings.push(PlanError::DuplicateRuleName {
                name: base,
                renamed: renamed.clone(),
                span: n.span,
            });
        }
        renamed
    }

    fn rule(&mut self, rule: &ast::Rule) {
        let name = self.rule_name(rule);
        let errors_before = self.errors.len();

        // Resolve relations and split the body.
        let mut atoms = Vec::new();
        let mut conds = Vec::new();
        for el in &rule.body {
            match el {
                BodyElem::Atom(a) | BodyElem::NotIn(a, _) => {
                    let negated = matches!(el, BodyElem::NotIn(..));
                    if let Some(atom) = self.body_atom(a, negated) {
                        atoms.push(atom);
                    }
                }
                BodyElem::Assign(a) => conds.push(CondIr::Assign(a.var.clone(), a.value.clone())),
                BodyElem::Condition(e) => conds.push(CondIr::Filter(e.clone())),
            }
        }
        if rule.head.relation.name == PERIODIC {
            self.errors.push(PlanError::BuiltinRelation {
                relation: PERIODIC.into(),
                what: "derived by a rule",
                span: rule.head.relation.span,
            });
            return;
        }
        let Some(head_rel) = self.use_relation(&rule.head.relation, rule.head.args.len()) else {
            return;
        };
        self.derived[head_rel.0 as usize] = true;
        if self.errors.len() > errors_before {
            return;
        }
        if !atoms.iter().any(|a| !a.negated) {
            self.errors.push(PlanError::NoPredicate { span: rule.span });
            return;
        }
        if let Some(d) = rule.delete
            && !matches!(self.plan.relation(head_rel).kind, RelationKind::Table(_))
        {
            self.errors.push(PlanError::DeleteEvent {
                relation: rule.head.relation.name.clone(),
                span: d.to(rule.head.relation.span),
            });
            return;
        }
        for stage in self.localize(name, rule, atoms, conds) {
            self.build_rule(stage);
        }
    }

    fn body_atom(&mut self, a: &ast::Atom, negated: bool) -> Option<AtomIr> {
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

    /// Split a rule whose body reads several locations into one rule per
    /// location (LANGUAGE.md 5.7). Each stage's bindings travel to the next
    /// location as a generated event `<rule>_loc<k>`.
    fn localize(
        &mut self,
        name: String,
        rule: &ast::Rule,
        atoms: Vec<AtomIr>,
        conds: Vec<CondIr>,
    ) -> Vec<RuleIr> {
        // Stage locations: in order of first appearance, positive atoms first.
        let mut locations: Vec<LocTerm> = Vec::new();
        for negated in [false, true] {
            for a in atoms.iter().filter(|a| a.negated == negated) {
                let loc = LocTerm::of(&a.args[0]);
                if !locations.contains(&loc) {
                    locations.push(loc);
                }
            }
        }
        let delete = rule.delete.is_some();
        if locations.len() == 1 {
            return vec![RuleIr {
                name,
                origin: None,
                span: rule.span,
                location: locations.remove(0),
                atoms,
                conds,
                head: rule.head.clone(),
                delete,
            }];
        }

        let stage_of = |a: &AtomIr| {
            let loc = LocTerm::of(&a.args[0]);
            locations
                .iter()
                .position(|l| *l == loc)
                .expect("collected above")
        };
        let n = locations.len();
        let mut stage_atoms: Vec<Vec<AtomIr>> = vec![Vec::new(); n];
        for a in &atoms {
            stage_atoms[stage_of(a)].push(a.clone());
        }
        // Variables bound by each stage's positive atoms.
        let mut bound: Vec<BTreeSet<String>> = stage_atoms
            .iter()
            .map(|s| {
                s.iter()
                    .filter(|a| !a.negated)
                    .flat_map(|a| atom_vars(&a.args).map(String::from))
                    .collect()
            })
            .collect();
        // Place each condition and assignment at the earliest stage where
        // its variables are bound; what never is goes last (and fails the
        // safety check there).
        let mut stage_conds: Vec<Vec<CondIr>> = vec![Vec::new(); n];
        for cond in conds {
            let needed: Vec<String> = cond.vars().into_iter().map(|(v, _)| v).collect();
            let mut cumulative = BTreeSet::new();
            let mut stage = n - 1;
            for (k, b) in bound.iter().enumerate() {
                cumulative.extend(b.iter().cloned());
                if needed.iter().all(|v| cumulative.contains(v)) {
                    stage = k;
                    break;
                }
            }
            if let CondIr::Assign(var, _) = &cond {
                bound[stage].insert(var.name.clone());
            }
            stage_conds[stage].push(cond);
        }
        // Each later stage's location must be bound by the stages before it.
        let mut before = BTreeSet::new();
        for k in 0..n {
            if k > 0
                && let LocTerm::Var(v) = &locations[k]
                && !before.contains(v)
            {
                let span = stage_atoms[k][0].args[0].span;
                self.errors.push(PlanError::UnboundLocation {
                    location: locations[k].describe(),
                    span,
                });
                return Vec::new();
            }
            before.extend(bound[k].iter().cloned());
        }

        // Variables used at stage k or later (including the head).
        let mut used_from: Vec<BTreeSet<String>> = vec![BTreeSet::new(); n + 1];
        let mut head_vars = Vec::new();
        for arg in &rule.head.args {
            expr_vars(arg, &mut head_vars);
        }
        used_from[n].extend(head_vars.into_iter().map(|(v, _)| v));
        for k in (0..n).rev() {
            let mut used = used_from[k + 1].clone();
            for a in &stage_atoms[k] {
                used.extend(atom_vars(&a.args).map(String::from));
            }
            for c in &stage_conds[k] {
                used.extend(c.vars().into_iter().map(|(v, _)| v));
            }
            if let LocTerm::Var(v) = &locations[k] {
                used.insert(v.clone());
            }
            used_from[k] = used;
        }

        let mut stages = Vec::new();
        let mut carried_atom: Option<AtomIr> = None;
        let mut bound_so_far: Vec<String> = Vec::new();
        for k in 0..n {
            for a in stage_atoms[k].iter().filter(|a| !a.negated) {
                for v in atom_vars(&a.args) {
                    if !bound_so_far.iter().any(|b| b == v) {
                        bound_so_far.push(v.to_string());
                    }
                }
            }
            for c in &stage_conds[k] {
                if let CondIr::Assign(var, _) = c
                    && !bound_so_far.contains(&var.name)
                {
                    bound_so_far.push(var.name.clone());
                }
            }
            let mut body = Vec::new();
            body.extend(carried_atom.take());
            body.extend(stage_atoms[k].iter().cloned());
            let stage_name = format!("{name}_loc{}", k + 1);
            let (head, head_delete) = if k + 1 == n {
                (rule.head.clone(), delete)
            } else {
                // Ship the bindings the later stages need to the next location.
                let next = &locations[k + 1];
                let loc_expr = match next {
                    LocTerm::Var(v) => ast::ExprKind::Var(v.clone()),
                    LocTerm::Const(c) => ast::ExprKind::Literal(c.clone()),
                    LocTerm::Param(p) => ast::ExprKind::NodeParam(p.clone()),
                    LocTerm::Other => unreachable!("atom locations are checked"),
                };
                let carried: Vec<&String> = bound_so_far
                    .iter()
                    .filter(|v| used_from[k + 1].contains(*v))
                    .collect();
                let mut args = vec![ast::Expr {
                    kind: loc_expr,
                    span: rule.span,
                }];
                args.extend(carried.iter().map(|v| ast::Expr {
                    kind: ExprKind::Var((*v).clone()),
                    span: rule.span,
                }));
                let mut event_name = format!("{name}_loc{}", k + 2);
                while self.plan.lookup(&event_name).is_some() {
                    event_name.push('_');
                }
                let rel = self.add_relation(
                    &event_name,
                    args.len(),
                    RelationKind::Event,
                    true,
                    Some(rule.span),
                );
                carried_atom = Some(AtomIr {
                    relation: rel,
                    negated: false,
                    args: args.clone(),
                });
                let head = ast::Atom {
                    relation: ast::Ident {
                        name: event_name,
                        span: rule.span,
                    },
                    args,
                    location_style: ast::LocationStyle::At,
                    span: rule.span,
                };
                (head, false)
            };
            stages.push(RuleIr {
                name: stage_name,
                origin: Some(name.clone()),
                span: rule.span,
                location: locations[k].clone(),
                atoms: body,
                conds: std::mem::take(&mut stage_conds[k]),
                head,
                delete: head_delete,
            });
        }
        stages
    }

    fn build_rule(&mut self, ir: RuleIr) {
        match RuleBuilder::new(self, &ir).build() {
            Ok(rule) => self.plan.rules.push(rule),
            Err(e) => self.errors.push(e),
        }
    }
}

/// Builds one single-location rule: variables, safety, strands, head.
struct RuleBuilder<'c, 's> {
    c: &'c mut Compiler<'s>,
    ir: &'c RuleIr,
    vars: Vec<String>,
}

impl<'c, 's> RuleBuilder<'c, 's> {
    fn new(c: &'c mut Compiler<'s>, ir: &'c RuleIr) -> Self {
        RuleBuilder {
            c,
            ir,
            vars: Vec::new(),
        }
    }

    fn var(&mut self, name: &str) -> VarId {
        if let Some(i) = self.vars.iter().position(|v| v == name) {
            return i as VarId;
        }
        self.vars.push(name.to_string());
        self.vars.len() as VarId - 1
    }

    fn build(mut self) -> Result<RulePlan, PlanError> {
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
            strands.push(self.strand(None, drive, |_| Rows::All, mark)?);
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
                strands.push(self.strand(Some(t), t, rows, None)?);
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
            head,
            span: ir.span,
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
    /// variables are bound, and `notin` checks once theirs are.
    fn strand(
        &mut self,
        trigger: Option<usize>,
        first: usize,
        rows: impl Fn(usize) -> Rows,
        mark_group: Option<&BTreeSet<VarId>>,
    ) -> Result<Strand, PlanError> {
        let ir = self.ir;
        let mut steps = Vec::new();
        let mut bound: BTreeSet<String> = BTreeSet::new();
        let mut done_atoms = vec![false; ir.atoms.len()];
        let mut done_conds = vec![false; ir.conds.len()];
        let mut marked = mark_group.is_none();

        let pattern = |bound: &BTreeSet<String>, args: &[ast::Expr], b: &mut Self| {
            let mut seen = bound.clone();
            args.iter()
                .map(|arg| match &arg.kind {
                    ExprKind::Var(v) => {
                        let id = b.var(v);
                        if seen.insert(v.clone()) {
                            Field::Bind(id)
                        } else {
                            Field::Check(id)
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
        bound.extend(atom_vars(&a.args).map(String::from));
        done_atoms[first] = true;

        loop {
            // Conditions and assignments whose inputs are bound, in body order.
            let mut progress = true;
            while progress {
                progress = false;
                if !marked {
                    let group = mark_group.expect("checked by `marked`");
                    if group
                        .iter()
                        .all(|v| bound.contains(&self.vars[*v as usize]))
                    {
                        steps.push(Step::MarkGroup);
                        marked = true;
                    }
                }
                // Selections first: they prune before assignments compute.
                // A random draw waits for every join, so each derivation
                // draws its own (not one draw shared by all).
                let all_joined = (0..ir.atoms.len()).all(|i| done_atoms[i] || ir.atoms[i].negated);
                let ready = |c: &CondIr, bound: &BTreeSet<String>| {
                    c.vars().iter().all(|(v, _)| bound.contains(v))
                        && (all_joined || !c.draws_random())
                };
                let filters_ready = ir.conds.iter().enumerate().any(|(i, c)| {
                    !done_conds[i] && matches!(c, CondIr::Filter(_)) && ready(c, &bound)
                });
                for (i, c) in ir.conds.iter().enumerate() {
                    if done_conds[i] || !ready(c, &bound) {
                        continue;
                    }
                    if filters_ready && matches!(c, CondIr::Assign(..)) {
                        continue;
                    }
                    done_conds[i] = true;
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
                            bound.insert(var.name.clone());
                        }
                    }
                }
                for (i, a) in ir.atoms.iter().enumerate() {
                    if done_atoms[i] || !a.negated {
                        continue;
                    }
                    if !atom_vars(&a.args).all(|v| bound.contains(v)) {
                        continue;
                    }
                    done_atoms[i] = true;
                    progress = true;
                    let pat = pattern(&bound, &a.args, self);
                    let (index, key) = self.index_for(a.relation, &pat);
                    steps.push(Step::NotIn {
                        atom: i,
                        index,
                        key,
                        pattern: pat,
                    });
                }
            }
            // The next positive atom: the one with the most bound columns.
            let next = (0..ir.atoms.len())
                .filter(|&i| !done_atoms[i] && !ir.atoms[i].negated)
                .max_by_key(|&i| {
                    let n = ir.atoms[i]
                        .args
                        .iter()
                        .skip(1)
                        .filter(|arg| match &arg.kind {
                            ExprKind::Var(v) => bound.contains(v),
                            ExprKind::Literal(_) | ExprKind::NodeParam(_) => true,
                            _ => false,
                        })
                        .count();
                    (n, std::cmp::Reverse(i))
                });
            let Some(i) = next else { break };
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
            bound.extend(atom_vars(&a.args).map(String::from));
            done_atoms[i] = true;
        }
        debug_assert!(done_conds.iter().all(|d| *d), "safety was checked");
        Ok(Strand { trigger, steps })
    }

    /// The index on a table's bound columns (never the location column,
    /// which is the same for every row on a node), with the key expressions.
    fn index_for(&mut self, rel: RelId, pattern: &[Field]) -> (Option<IndexId>, Vec<Expr>) {
        let relation = &mut self.c.plan.relations[rel.0 as usize];
        if !matches!(relation.kind, RelationKind::Table(_)) {
            return (None, Vec::new());
        }
        let mut columns = Vec::new();
        let mut key = Vec::new();
        for (col, f) in pattern.iter().enumerate().skip(1) {
            let e = match f {
                Field::Check(v) => Expr::Var(*v),
                Field::Const(c) => Expr::Const(c.clone()),
                Field::Param(p) => Expr::Param(*p),
                Field::Bind(_) | Field::Any => continue,
            };
            columns.push(col);
            key.push(e);
        }
        if columns.is_empty() {
            return (None, Vec::new());
        }
        let id = match relation.indexes.iter().position(|c| *c == columns) {
            Some(i) => i,
            None => {
                relation.indexes.push(columns);
                relation.indexes.len() - 1
            }
        };
        (Some(IndexId(id as u32)), key)
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
