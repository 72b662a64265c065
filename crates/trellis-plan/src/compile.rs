//! From the AST to a [`Plan`]: declare relations, check arities, rewrite
//! multi-location rules (localization), check safety, choose join orders and
//! indexes, and stratify.
//!
//! This module runs the passes in order and holds what passes between them
//! (a rule's intermediate form, [`RuleIr`]); each pass has a module:
//! - `declare`: relations and their uses (tables, events, arities, facts,
//!   timers, `watch`, `trace`, `channel`);
//! - `localize`: the rewrite of a rule that reads several locations into
//!   single-location stages;
//! - `rule`: one single-location rule to a [`RulePlan`]: safety, the head,
//!   and its strands;
//! - `index`: the index a join or `notin` reads;
//! - stratification is `crate::stratify`.

mod declare;
mod index;
mod lattice;
mod localize;
mod rule;

use std::collections::{BTreeMap, BTreeSet};

use trellis_syntax::ast::{self, BodyElem, ExprKind};
use trellis_syntax::{SourceMap, Span};

use crate::error::PlanError;
use crate::plan::*;
use crate::stratify::stratify;

use localize::LocTerm;
use rule::RuleBuilder;

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
    /// A localization stage that ships into a generated table: a removed
    /// row of a table it reads ships a delete of what the row made.
    retract: bool,
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
    /// Key columns (0-based) as `materialize` declares them, before uses fix
    /// the arity (empty: every field), for localization.
    declared_keys: BTreeMap<RelId, Vec<usize>>,
    /// Variables localization has made up so far.
    fresh_vars: usize,
    /// Where the program chose its semantics, if it did.
    semantics_span: Option<Span>,
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
                semantics: Semantics::default(),
            },
            errors: Vec::new(),
            warnings: Vec::new(),
            first_use: Vec::new(),
            derived: Vec::new(),
            rule_names: BTreeSet::new(),
            timers: BTreeMap::new(),
            declared_keys: BTreeMap::new(),
            fresh_vars: 0,
            semantics_span: None,
        };
        c.add_relation(PERIODIC, 4, RelationKind::Periodic, false, None);
        c
    }

    fn run(&mut self, program: &ast::Program) {
        use ast::Statement;
        for st in &program.statements {
            if let Statement::Materialize(m) = st {
                self.declare_table(m);
            }
        }
        self.declare_provenance(program);
        for st in &program.statements {
            match st {
                Statement::Fact(f) => self.fact(f),
                Statement::Rule(r) => self.rule(r),
                Statement::Materialize(_)
                | Statement::Watch(_)
                | Statement::Trace(_)
                | Statement::Channel(_)
                | Statement::External(_)
                | Statement::Lattice(_)
                | Statement::Semantics(_) => {}
            }
        }
        self.check_tables(program);
        let mut traced = Vec::new();
        for st in &program.statements {
            match st {
                Statement::Watch(w) => self.watch(w),
                Statement::Channel(c) => self.channel(c),
                Statement::External(e) => self.external(e),
                Statement::Lattice(l) => self.lattice(l),
                Statement::Semantics(s) => self.semantics(s),
                Statement::Trace(t) => match self.plan.lookup(&t.relation.name) {
                    Some(rel) => traced.push(rel),
                    None => self.warnings.push(PlanError::WatchUnknown {
                        relation: t.relation.name.clone(),
                        span: t.relation.span,
                    }),
                },
                _ => {}
            }
        }
        self.plan.trace(&traced);
        self.lattice_constants(program);
        self.never_derived(program);
        if self.errors.is_empty()
            && let Err(e) = stratify(&mut self.plan)
        {
            self.errors.push(e);
        }
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
        self.notin_wildcards(&mut atoms, &conds);
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

    /// P2 reads a variable that appears only inside `notin` (bound by no
    /// positive atom and no assignment anywhere in the rule) as a wildcard:
    /// it is left out of the lookup key and matches anything. It becomes
    /// `_`, with a warning that suggests writing so. (Not the location: a
    /// `notin` at an unbound location stays an error.)
    fn notin_wildcards(&mut self, atoms: &mut [AtomIr], conds: &[CondIr]) {
        let bound: BTreeSet<String> = atoms
            .iter()
            .filter(|a| !a.negated)
            .flat_map(|a| atom_vars(&a.args).map(String::from))
            .chain(conds.iter().filter_map(|c| match c {
                CondIr::Assign(var, _) => Some(var.name.clone()),
                CondIr::Filter(_) => None,
            }))
            .collect();
        for arg in atoms
            .iter_mut()
            .filter(|a| a.negated)
            .flat_map(|a| a.args.iter_mut().skip(1))
        {
            if let ExprKind::Var(v) = &arg.kind
                && !bound.contains(v)
            {
                self.warnings.push(PlanError::NotInWildcard {
                    var: v.clone(),
                    span: arg.span,
                });
                arg.kind = ExprKind::Wildcard;
            }
        }
    }

    fn build_rule(&mut self, ir: RuleIr) {
        match RuleBuilder::new(self, &ir).build() {
            Ok(rule) => self.plan.rules.push(rule),
            Err(e) => self.errors.push(e),
        }
    }
}
