//! The planner never panics, and neither does the engine on what the planner
//! accepts.
//!
//! Programs are generated *syntactically valid but semantically random*: rules
//! over a small vocabulary of relations (mostly used at their usual arity,
//! sometimes not), random variables in heads and bodies, `notin`,
//! aggregates, conditions, assignments, calls of built-in and unknown
//! functions with any number of arguments, several locations per body,
//! `materialize` with odd arguments, and `periodic` with odd periods and
//! counts. Half the programs are "careful" (head, condition and `notin`
//! variables drawn from what the body binds, valid tables and timers, known
//! functions at their arity), so that most of them compile and reach the
//! engine. Random token soup is thrown in as well.
//!
//! `load_str` must return `Ok` or `Err`; when it is `Ok`, the plan is
//! explained and graphed, and a node runs it for a few virtual seconds, with
//! tuples of every relation injected and its own sends fed back to it as if
//! they came from the network. The node's runaway bounds are low (100 ticks
//! at one instant, 10,000 events in a tick) to keep the cases fast.
//!
//! The fuzz tests run in a child process with a memory limit (see
//! [`in_child`]) and from a fixed seed, so they are deterministic.

use std::sync::Arc;

use proptest::prelude::*;

#[path = "../../../tests/support/fuzz_config.rs"]
mod fuzz_config;
use fuzz_config::fuzz_config;
use trellis_engine::{NANOS_PER_SECOND, Node, NodeConfig, Output, Stats};
use trellis_plan::{GraphFormat, LOCAL_ADDRESS, Plan, explain, graph, load_str};
use trellis_render::{Style, render_all};
use trellis_syntax::ParseOptions;
use trellis_value::Value;

/// Relations and their usual arity.
const RELATIONS: [(&str, usize); 8] = [
    ("a", 1),
    ("b", 2),
    ("c", 3),
    ("d", 4),
    ("link", 2),
    ("succ", 3),
    ("ev", 2),
    ("msg", 3),
];
const VARS: [&str; 6] = ["X", "Y", "Z", "W", "N", "Cost"];
const CONSTS: [&str; 10] = [
    "0", "1", "-7", "2.5", "0x1fI", "\"n\"", "\"m:1\"", "null", "true", "\"NIL\"",
];
/// Location constants: this node, another node, a node parameter.
const ADDRESSES: [&str; 4] = ["\"n\"", "\"m:1\"", "LOCALADDRESS", "LANDMARK"];
const PARAMS: [&str; 3] = ["LOCALADDRESS", "LANDMARK", "NODEID"];
const FUNCTIONS: [&str; 28] = [
    "f_append",
    "f_mapOf",
    "f_mapGet",
    "f_gcInc",
    "f_gcValue",
    "f_pnInc",
    "f_pnDec",
    "f_pnValue",
    "f_bitlen",
    "f_car",
    "f_cdr",
    "f_coinFlip",
    "f_concat",
    "f_cons",
    "f_drand",
    "f_empty",
    "f_idgen",
    "f_max",
    "f_member",
    "f_min",
    "f_now",
    "f_rand",
    "f_sha1",
    "f_size",
    "f_tostr",
    "f_typeOf",
    "f_bogus",
    "f_sha",
];
/// The lattice a sane table's last field may be made (when it is not a
/// key field), picked by the table's other draws.
const LATTICES: [&str; 9] = [
    "max",
    "min",
    "bool",
    "set",
    "map(max)",
    "map(set)",
    "gcounter",
    "pncounter",
    "map(map(bool))",
];
const BINARY: [&str; 18] = [
    "+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "==", "!=", "<", "<=", ">", ">=", "&&",
    "||",
];
const AGGREGATES: [&str; 6] = ["min", "max", "count", "sum", "avg", "a_MIN"];
const LIFETIMES: [&str; 6] = ["infinity", "1", "0.5", "10", "0", "-1"];
const SIZES: [&str; 5] = ["infinity", "1", "2", "100", "0"];
const PERIODS: [&str; 7] = ["0", "1", "0.5", "2", "P", "-1", "\"x\""];
const COUNTS: [&str; 6] = ["0", "1", "3", "-1", "2.5", "Y"];

#[derive(Debug, Clone)]
enum Ex {
    Var(u8),
    Const(u8),
    Param(u8),
    Binary(u8, Box<Ex>, Box<Ex>),
    Not(Box<Ex>),
    Call(u8, Vec<Ex>),
    In(u8, Box<Ex>, Box<Ex>, Box<Ex>),
}

/// A field of a body predicate.
#[derive(Debug, Clone)]
enum Term {
    Var(u8),
    Const(u8),
    Wildcard,
}

#[derive(Debug, Clone)]
enum Loc {
    /// The rule's main location variable.
    Main,
    Var(u8),
    Const(u8),
}

#[derive(Debug, Clone)]
struct Atom {
    rel: u8,
    /// Some: use this arity instead of the usual one.
    arity: Option<u8>,
    loc: Loc,
    fields: Vec<Term>,
}

#[derive(Debug, Clone)]
enum Elem {
    Atom(Atom),
    NotIn(Atom),
    Periodic {
        loc: Loc,
        event: u8,
        period: u8,
        count: Option<u8>,
    },
    Assign(u8, Ex),
    Cond(Ex),
}

#[derive(Debug, Clone)]
enum HeadField {
    Expr(Ex),
    Aggregate(u8, Option<u8>),
    Wildcard,
}

#[derive(Debug, Clone)]
enum HeadLoc {
    Main,
    Var(u8),
    Const(u8),
    Aggregate(u8),
    Expr(Ex),
}

#[derive(Debug, Clone)]
struct Rule {
    name: Option<u8>,
    delete: bool,
    main: u8,
    head_rel: u8,
    head_arity: Option<u8>,
    head_loc: HeadLoc,
    head: Vec<HeadField>,
    body: Vec<Elem>,
    /// Draw head, condition, `notin` and later-location variables from what
    /// the body binds, and assign only fresh variables.
    strict: bool,
}

#[derive(Debug, Clone)]
enum Statement {
    Materialize {
        /// Valid lifetime, size and keys.
        sane: bool,
        rel: u8,
        lifetime: u8,
        size: u8,
        keys: Option<Vec<u8>>,
    },
    Fact {
        rel: u8,
        arity: Option<u8>,
        loc: u8,
        fields: Vec<u8>,
    },
    Watch(u8, Option<u8>),
    Trace(u8),
    Rule(Rule),
}

fn pick<T: Copy>(items: &[T], i: u8) -> T {
    items[i as usize % items.len()]
}

fn expr() -> impl Strategy<Value = Ex> {
    let leaf = prop_oneof![
        4 => any::<u8>().prop_map(Ex::Var),
        2 => any::<u8>().prop_map(Ex::Const),
        1 => any::<u8>().prop_map(Ex::Param),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            3 => (any::<u8>(), inner.clone(), inner.clone())
                .prop_map(|(op, a, b)| Ex::Binary(op, Box::new(a), Box::new(b))),
            1 => inner.clone().prop_map(|a| Ex::Not(Box::new(a))),
            2 => (any::<u8>(), prop::collection::vec(inner.clone(), 0..4))
                .prop_map(|(f, args)| Ex::Call(f, args)),
            1 => (any::<u8>(), inner.clone(), inner.clone(), inner)
                .prop_map(|(k, v, lo, hi)| Ex::In(k, Box::new(v), Box::new(lo), Box::new(hi))),
        ]
    })
}

fn term() -> impl Strategy<Value = Term> {
    prop_oneof![
        6 => any::<u8>().prop_map(Term::Var),
        2 => any::<u8>().prop_map(Term::Const),
        1 => Just(Term::Wildcard),
    ]
}

fn loc() -> impl Strategy<Value = Loc> {
    prop_oneof![
        8 => Just(Loc::Main),
        2 => any::<u8>().prop_map(Loc::Var),
        1 => any::<u8>().prop_map(Loc::Const),
    ]
}

fn arity() -> impl Strategy<Value = Option<u8>> {
    prop_oneof![9 => Just(None), 1 => (1u8..6).prop_map(Some)]
}

fn atom() -> impl Strategy<Value = Atom> {
    (
        any::<u8>(),
        arity(),
        loc(),
        prop::collection::vec(term(), 5),
    )
        .prop_map(|(rel, arity, loc, fields)| Atom {
            rel,
            arity,
            loc,
            fields,
        })
}

fn elem() -> impl Strategy<Value = Elem> {
    prop_oneof![
        6 => atom().prop_map(Elem::Atom),
        1 => atom().prop_map(Elem::NotIn),
        2 => (loc(), any::<u8>(), any::<u8>(), prop::option::of(any::<u8>())).prop_map(
            |(loc, event, period, count)| Elem::Periodic { loc, event, period, count }
        ),
        2 => (any::<u8>(), expr()).prop_map(|(v, e)| Elem::Assign(v, e)),
        2 => expr().prop_map(Elem::Cond),
    ]
}

fn head_field() -> impl Strategy<Value = HeadField> {
    prop_oneof![
        8 => expr().prop_map(HeadField::Expr),
        2 => (any::<u8>(), prop::option::of(any::<u8>()))
            .prop_map(|(k, v)| HeadField::Aggregate(k, v)),
        1 => Just(HeadField::Wildcard),
    ]
}

fn head_loc() -> impl Strategy<Value = HeadLoc> {
    prop_oneof![
        8 => Just(HeadLoc::Main),
        3 => any::<u8>().prop_map(HeadLoc::Var),
        2 => any::<u8>().prop_map(HeadLoc::Const),
        1 => any::<u8>().prop_map(HeadLoc::Aggregate),
        1 => expr().prop_map(HeadLoc::Expr),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        prop::option::of(0u8..6),
        prop::bool::weighted(0.1),
        any::<u8>(),
        (any::<u8>(), arity(), head_loc()),
        prop::collection::vec(head_field(), 5),
        prop::collection::vec(elem(), 1..5),
        prop::bool::ANY,
    )
        .prop_map(
            |(name, delete, main, (head_rel, head_arity, head_loc), head, body, strict)| Rule {
                name,
                delete,
                main,
                head_rel,
                head_arity,
                head_loc,
                head,
                body,
                strict,
            },
        )
}

fn statement() -> impl Strategy<Value = Statement> {
    prop_oneof![
        3 => (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            prop::option::of(prop::collection::vec(0u8..6, 0..3)),
        )
            .prop_map(|(rel, lifetime, size, keys)| Statement::Materialize {
                sane: false,
                rel,
                lifetime,
                size,
                keys,
            }),
        2 => (any::<u8>(), arity(), any::<u8>(), prop::collection::vec(any::<u8>(), 5))
            .prop_map(|(rel, arity, loc, fields)| Statement::Fact { rel, arity, loc, fields }),
        1 => (any::<u8>(), prop::option::of(any::<u8>())).prop_map(|(r, m)| Statement::Watch(r, m)),
        1 => any::<u8>().prop_map(Statement::Trace),
        8 => rule().prop_map(Statement::Rule),
    ]
}

/// Renders rules, mapping variable indices to names.
struct Renderer {
    strict: bool,
    /// The relations the program materializes.
    tables: Vec<&'static str>,
    /// The rule's main location: in strict mode, the first atom's.
    main: Option<String>,
    /// Variables bound so far in the body (positive atoms, periodic,
    /// assignments), in order.
    bound: Vec<String>,
    fresh: usize,
}

impl Renderer {
    /// A variable that reads a value: in strict mode one the body binds.
    fn read(&self, i: u8) -> String {
        if self.strict && !self.bound.is_empty() {
            self.bound[i as usize % self.bound.len()].clone()
        } else {
            pick(&VARS, i).to_string()
        }
    }

    fn bind(&mut self, v: &str) {
        if !self.bound.iter().any(|b| b == v) {
            self.bound.push(v.to_string());
        }
    }

    fn expr(&self, e: &Ex, out: &mut String) {
        match e {
            Ex::Var(i) => out.push_str(&self.read(*i)),
            Ex::Const(i) => out.push_str(pick(&CONSTS, *i)),
            Ex::Param(i) => out.push_str(pick(&PARAMS, *i)),
            Ex::Binary(op, a, b) => {
                out.push('(');
                self.expr(a, out);
                out.push_str(&format!(" {} ", pick(&BINARY, *op)));
                self.expr(b, out);
                out.push(')');
            }
            Ex::Not(a) => {
                out.push_str("!(");
                self.expr(a, out);
                out.push(')');
            }
            Ex::Call(f, args) => {
                let mut args: Vec<&Ex> = args.iter().collect();
                let name = if self.strict {
                    // A built-in, given as many arguments as it takes.
                    let name = pick(&FUNCTIONS[..FUNCTIONS.len() - 2], *f);
                    let arity = trellis_value::builtin(name).expect("a built-in").arity;
                    args.truncate(arity.max);
                    while args.len() < arity.min {
                        args.push(&Ex::Const(1));
                    }
                    name
                } else {
                    pick(&FUNCTIONS, *f)
                };
                out.push_str(name);
                out.push('(');
                for (k, a) in args.into_iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    self.expr(a, out);
                }
                out.push(')');
            }
            Ex::In(kind, v, lo, hi) => {
                self.expr(v, out);
                out.push_str(if kind & 1 == 0 { " in (" } else { " in [" });
                self.expr(lo, out);
                out.push_str(", ");
                self.expr(hi, out);
                out.push(if kind & 2 == 0 { ')' } else { ']' });
            }
        }
    }

    fn location(&mut self, loc: &Loc, main: &str) -> String {
        let location = match loc {
            Loc::Main => self.main.clone().unwrap_or_else(|| main.to_string()),
            Loc::Var(_) if self.strict && self.bound.is_empty() && self.main.is_some() => {
                self.main.clone().expect("checked")
            }
            Loc::Var(i) => self.read(*i),
            Loc::Const(i) => pick(&ADDRESSES, *i).to_string(),
        };
        if self.strict && self.main.is_none() {
            // The first location of the body is the rule's.
            self.main = Some(location.clone());
        }
        location
    }

    fn atom(&mut self, a: &Atom, main: &str, negated: bool, out: &mut String) {
        let (name, usual) = pick(&RELATIONS, a.rel);
        let arity = match a.arity {
            Some(n) if !self.strict => usize::from(n),
            _ => usual,
        };
        let location = self.location(&a.loc, main);
        out.push_str(&format!("{name}(@{location}"));
        let mut binds = vec![location];
        for t in a.fields.iter().cycle().take(arity - 1) {
            out.push_str(", ");
            match t {
                Term::Var(i) if negated => out.push_str(&self.read(*i)),
                Term::Var(i) => {
                    let v = pick(&VARS, *i);
                    binds.push(v.to_string());
                    out.push_str(v);
                }
                Term::Const(i) => out.push_str(pick(&CONSTS, *i)),
                Term::Wildcard => out.push('_'),
            }
        }
        out.push(')');
        if !negated {
            for v in binds {
                if v.starts_with(|c: char| c.is_ascii_uppercase()) && !PARAMS.contains(&&*v) {
                    self.bind(&v);
                }
            }
        }
    }

    fn rule(&mut self, r: &Rule) -> String {
        self.strict = r.strict;
        self.bound.clear();
        self.main = None;
        let main = pick(&VARS, r.main);
        let mut elems: Vec<Elem> = r.body.clone();
        if self.strict {
            // Something triggers the rule, and what binds comes first.
            let binds = |e: &Elem| matches!(e, Elem::Atom(_) | Elem::Periodic { .. });
            if !elems.iter().any(binds) {
                elems.insert(
                    0,
                    Elem::Periodic {
                        loc: Loc::Main,
                        event: 0,
                        period: 1,
                        count: None,
                    },
                );
            }
            elems.sort_by_key(|e| !binds(e));
        }
        let mut body = Vec::new();
        for el in &elems {
            let mut s = String::new();
            match el {
                Elem::Atom(a) => self.atom(a, main, false, &mut s),
                Elem::NotIn(a) => {
                    s.push_str("notin ");
                    self.atom(a, main, true, &mut s);
                }
                Elem::Periodic {
                    loc,
                    event,
                    period,
                    count,
                } => {
                    let location = self.location(loc, main);
                    let event = pick(&VARS, *event);
                    let (period, count) = if self.strict {
                        // Valid: a constant period, and a count when it is 0.
                        let p = pick(&PERIODS[..4], *period);
                        let c = count.map(|c| pick(&COUNTS[..3], c));
                        (p, if p == "0" { Some("3") } else { c })
                    } else {
                        (pick(&PERIODS, *period), count.map(|c| pick(&COUNTS, c)))
                    };
                    s.push_str(&format!("periodic(@{location}, {event}, {period}"));
                    if let Some(c) = count {
                        s.push_str(&format!(", {c}"));
                    }
                    s.push(')');
                    self.bind(&location);
                    self.bind(event);
                }
                Elem::Assign(v, e) => {
                    let target = if self.strict {
                        self.fresh += 1;
                        format!("A{}", self.fresh)
                    } else {
                        pick(&VARS, *v).to_string()
                    };
                    s.push_str(&format!("{target} := "));
                    self.expr(e, &mut s);
                    self.bind(&target);
                }
                Elem::Cond(e) => self.expr(e, &mut s),
            }
            body.push(s);
        }
        let (name, usual) = pick(&RELATIONS, r.head_rel);
        let arity = match r.head_arity {
            Some(n) if !self.strict => usize::from(n),
            _ => usual,
        };
        let main = self.main.clone().unwrap_or_else(|| main.to_string());
        let main = main.as_str();
        let mut head = String::new();
        if let Some(n) = r.name {
            head.push_str(&format!("r{n} "));
        }
        // In strict mode, only from tables.
        if r.delete && (!self.strict || self.tables.contains(&name)) {
            head.push_str("delete ");
        }
        head.push_str(&format!("{name}(@"));
        let head_loc = match &r.head_loc {
            HeadLoc::Aggregate(_) | HeadLoc::Expr(_) if self.strict => &HeadLoc::Main,
            other => other,
        };
        match head_loc {
            HeadLoc::Main => head.push_str(main),
            HeadLoc::Var(i) => head.push_str(&self.read(*i)),
            HeadLoc::Const(i) => head.push_str(pick(&ADDRESSES, *i)),
            HeadLoc::Aggregate(k) => {
                head.push_str(&format!("{}<{}>", pick(&AGGREGATES, *k), self.read(*k)));
            }
            HeadLoc::Expr(e) => self.expr(e, &mut head),
        }
        let mut aggregates = 0;
        for f in r.head.iter().cycle().take(arity - 1) {
            head.push_str(", ");
            let f = match f {
                // At most one aggregate, and no `_`.
                HeadField::Aggregate(_, v) if self.strict && aggregates > 0 => {
                    &HeadField::Expr(Ex::Var(v.unwrap_or(0)))
                }
                HeadField::Wildcard if self.strict => &HeadField::Expr(Ex::Var(0)),
                other => other,
            };
            if matches!(f, HeadField::Aggregate(..)) {
                aggregates += 1;
            }
            match f {
                HeadField::Expr(e) => self.expr(e, &mut head),
                HeadField::Aggregate(_, None) => head.push_str("count<*>"),
                HeadField::Aggregate(k, Some(v)) => {
                    head.push_str(&format!("{}<{}>", pick(&AGGREGATES, *k), self.read(*v)));
                }
                HeadField::Wildcard => head.push('_'),
            }
        }
        head.push(')');
        format!("{head} :- {}.", body.join(", "))
    }
}

fn render(program: &[Statement]) -> String {
    let tables = program
        .iter()
        .filter_map(|st| match st {
            Statement::Materialize { rel, .. } => Some(pick(&RELATIONS, *rel).0),
            _ => None,
        })
        .collect();
    let mut r = Renderer {
        tables,
        strict: false,
        main: None,
        bound: Vec::new(),
        fresh: 0,
    };
    let mut out = String::new();
    let mut declared = Vec::new();
    for st in program {
        match st {
            Statement::Materialize {
                sane: true, rel, ..
            } if declared.contains(&pick(&RELATIONS, *rel).0) => {
                continue;
            }
            Statement::Materialize {
                sane,
                rel,
                lifetime,
                size,
                keys,
            } => {
                declared.push(pick(&RELATIONS, *rel).0);
                let (name, arity) = pick(&RELATIONS, *rel);
                let (lifetimes, sizes) = if *sane {
                    (&LIFETIMES[..4], &SIZES[..4])
                } else {
                    (&LIFETIMES[..], &SIZES[..])
                };
                out.push_str(&format!(
                    "materialize({name}, {}, {}",
                    pick(lifetimes, *lifetime),
                    pick(sizes, *size)
                ));
                if let Some(keys) = keys {
                    let keys: Vec<String> = keys
                        .iter()
                        .map(|&k| {
                            if *sane {
                                1 + k as usize % arity
                            } else {
                                k as usize
                            }
                        })
                        .map(|k| k.to_string())
                        .collect();
                    out.push_str(&format!(", keys({})", keys.join(", ")));
                }
                out.push_str(").");
                // Half the sane tables whose last field is not a key make
                // it a lattice (no draw of its own, so the rest of the
                // program is what it was).
                if let Some(keys) = keys
                    && *sane
                    && arity > 1
                    && !keys.is_empty()
                    && !keys.iter().any(|&k| 1 + k as usize % arity == arity)
                    && size % 2 == 0
                {
                    out.push_str(&format!(
                        " lattice({name}, {arity}, {}).",
                        pick(&LATTICES, *lifetime)
                    ));
                }
            }
            Statement::Fact {
                rel,
                arity,
                loc,
                fields,
            } => {
                let (name, usual) = pick(&RELATIONS, *rel);
                let arity = arity.map_or(usual, usize::from);
                let mut f = vec![pick(&ADDRESSES, *loc)];
                f.extend(
                    fields
                        .iter()
                        .cycle()
                        .take(arity - 1)
                        .map(|c| pick(&CONSTS, *c)),
                );
                out.push_str(&format!("{name}({}).", f.join(", ")));
            }
            Statement::Watch(rel, None) => {
                out.push_str(&format!("watch({}).", pick(&RELATIONS, *rel).0));
            }
            Statement::Watch(rel, Some(m)) => {
                out.push_str(&format!(
                    "watchmod({}, \"{}\").",
                    pick(&RELATIONS, *rel).0,
                    pick(&["i", "ids", "rc", "ea", "x"], *m)
                ));
            }
            Statement::Trace(rel) => {
                out.push_str(&format!("trace({}).", pick(&RELATIONS, *rel).0));
            }
            Statement::Rule(rule) => out.push_str(&r.rule(rule)),
        }
        out.push('\n');
    }
    out
}

/// A program; a careful one has only strict rules, valid tables and facts
/// of the usual arity, so that it often compiles.
fn program() -> impl Strategy<Value = Vec<Statement>> {
    (prop::bool::ANY, prop::collection::vec(statement(), 1..10)).prop_map(|(careful, mut p)| {
        if careful {
            for st in &mut p {
                match st {
                    Statement::Rule(r) => r.strict = true,
                    Statement::Materialize { sane, .. } => *sane = true,
                    Statement::Fact { arity, .. } => *arity = None,
                    _ => {}
                }
            }
        }
        p
    })
}

/// Tokens for the soup: OverLog's, and a few that mean nothing.
const TOKENS: &[&str] = &[
    "a",
    "b",
    "link",
    "succ",
    "periodic",
    "materialize",
    "keys",
    "watch",
    "trace",
    "delete",
    "notin",
    "in",
    "r1",
    "X",
    "Y",
    "Z",
    "_",
    "LOCALADDRESS",
    "LANDMARK",
    "1",
    "0",
    "-1",
    "2.5",
    "0x1I",
    "\"n\"",
    "null",
    "infinity",
    "(",
    ")",
    "[",
    "]",
    ",",
    ".",
    "@",
    ":-",
    ":=",
    "==",
    "!=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "&&",
    "||",
    "!",
    "min<X>",
    "count<*>",
    "f_now()",
    "f_sha1(",
    "f_cons(",
    "f_bogus(",
    "\n",
];

fn options() -> ParseOptions {
    ParseOptions {
        defines: Vec::new(),
        node_params: vec!["LANDMARK".into(), "NODEID".into()],
    }
}

/// Compile, and when the program compiles, explain it and run it.
fn check(text: &str) {
    if let Some(path) = std::env::var_os("FUZZ_LOG") {
        // To find a program that aborts the process (see `in_child`).
        std::fs::write(path, text).expect("FUZZ_LOG is writable");
    }
    match load_str("fuzz.olg", text, &options()) {
        Ok(loaded) => {
            render_all(&loaded.warnings, Style::Plain);
            explain(&loaded.plan);
            graph(&loaded.plan, GraphFormat::Dot);
            graph(&loaded.plan, GraphFormat::Mermaid);
            run(loaded.plan);
        }
        Err(diagnostics) => {
            assert!(!diagnostics.errors.is_empty(), "Err without an error");
            render_all(&diagnostics, Style::Plain);
        }
    }
}

/// Values for injected tuples: a small domain, so that joins match.
fn domain(i: usize) -> Value {
    match i % 9 {
        0 => Value::Int(0),
        1 => Value::Int(1),
        2 => Value::Str(Arc::from("n")),
        3 => Value::Str(Arc::from("NIL")),
        4 => Value::Float(2.5),
        5 => Value::Id(trellis_value::sha1_id("x")),
        6 => Value::Null,
        7 => Value::Int(-7),
        _ => Value::List(Arc::from([Value::Int(1)])),
    }
}

/// A few virtual seconds of one node: every half second, two tuples of
/// every relation are injected and the node's sends are delivered back to it.
fn run(plan: Plan) -> Stats {
    let plan = Arc::new(plan);
    let mut config = NodeConfig::new("n", 1);
    config.max_ticks_per_instant = 100;
    config.max_derivations_per_tick = 10_000;
    for p in &plan.node_params {
        let value = match p.as_str() {
            LOCAL_ADDRESS => continue,
            "NODEID" => Value::Id(trellis_value::sha1_id("n")),
            _ => Value::Str(Arc::from("n")),
        };
        config.params.insert(p.clone(), value);
    }
    let mut node = Node::new(plan.clone(), config).expect("every parameter has a value");
    let mut out = Output::default();
    node.start(0);
    for step in 0..8u64 {
        let now = step * NANOS_PER_SECOND / 2;
        for (r, rel) in plan.relations.iter().enumerate() {
            for j in 0..2 {
                let tuple: Vec<Value> = std::iter::once(Value::Str(Arc::from("n")))
                    .chain((1..rel.arity).map(|k| domain(step as usize + 3 * r + 5 * k + j)))
                    .collect();
                // `periodic` is refused, which is fine.
                let _ = node.inject(&rel.name, tuple.into());
            }
        }
        while node.step(now, &mut out) {}
        for m in out.sends.iter().take(1000) {
            let _ = node.receive_id(m.relation, m.tuple(), m.delete);
        }
        out.clear();
    }
    for r in &plan.relations {
        node.table(&r.name);
    }
    node.stats().clone()
}

const CHILD: &str = "TRELLIS_FUZZ_CHILD";

/// Run the test `name` of this binary again in a child process whose
/// address space is limited to `limit_mib`, so that a program that makes the engine
/// allocate without bound fails the test (the allocation fails and the
/// child aborts) instead of exhausting the machine's memory. Returns false
/// in the child, which then runs the test's body.
///
/// An abort loses proptest's shrinking; rerun with `FUZZ_LOG=/tmp/last.olg`
/// and `--test-threads 1` to keep the program that was running.
fn in_child(name: &str, limit_mib: u64) -> bool {
    if std::env::var_os(CHILD).is_some() || !cfg!(target_os = "linux") {
        return false;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v {} && exec \"$0\" \"$@\"",
            limit_mib << 10
        ))
        .arg(exe)
        .args([name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .status()
        .expect("the test binary runs");
    assert!(
        status.success(),
        "`{name}` failed in its child process ({status}); if the child aborted, a \
         program exhausted the {limit_mib} MiB memory limit"
    );
    true
}

/// Run `strategy` through proptest's runner, failing with the minimal case.
fn fuzz<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let mut runner = proptest::test_runner::TestRunner::new(fuzz_config(cases));
    if let Err(e) = runner.run(&strategy, |value| {
        test(value);
        Ok(())
    }) {
        panic!("{e}");
    }
}

#[test]
fn random_programs_never_panic() {
    if in_child("random_programs_never_panic", 2048) {
        return;
    }
    fuzz(1000, program(), |p| check(&render(&p)));
}

#[test]
fn token_soup_never_panics() {
    if in_child("token_soup_never_panics", 2048) {
        return;
    }
    let soup = prop::collection::vec(prop::sample::select(TOKENS), 0..60);
    fuzz(2000, soup, |tokens| check(&tokens.join(" ")));
}

/// The generator reaches the engine: of a fixed sample of programs, many
/// compile, and running them fires rules, writes tables, sends, and meets
/// runtime errors (otherwise the fuzz would only test the error paths).
#[test]
fn random_programs_reach_the_engine() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]),
    );
    let strategy = program();
    let (mut compiled, mut firing, mut writing, mut sending, mut failing) = (0, 0, 0, 0, 0);
    for _ in 0..200 {
        let program = strategy.new_tree(&mut runner).expect("a program").current();
        let Ok(loaded) = load_str("fuzz.olg", &render(&program), &options()) else {
            continue;
        };
        compiled += 1;
        let stats = run(loaded.plan);
        firing += usize::from(stats.rule_firings.iter().sum::<u64>() > 0);
        writing += usize::from(stats.relations.iter().any(|r| r.inserts > 0));
        sending += usize::from(stats.relations.iter().any(|r| r.sends > 0));
        failing += usize::from(stats.errors() > 0);
    }
    let counts = format!(
        "of 200 programs, {compiled} compile, {firing} fire rules, {writing} write tables, \
         {sending} send, {failing} meet runtime errors"
    );
    assert!(compiled >= 80, "{counts}");
    assert!(
        firing >= 40 && writing >= 40 && sending >= 15 && failing >= 40,
        "{counts}"
    );
}

/// Found by this fuzz: a recursive rule whose value doubles at each
/// derivation would exhaust memory long before the runaway bound (10,000
/// derivations in a tick here, as in the fuzz; 1,000,000 by default) stops
/// it, 2^40 bytes after 40 steps; the size limits on values stop it.
/// The third program doubles without saying so: the string form of a list
/// quotes the strings in it, so the escaping backslashes double at each turn.
#[test]
fn a_value_that_doubles_at_each_step_does_not_exhaust_memory() {
    if in_child(
        "a_value_that_doubles_at_each_step_does_not_exhaust_memory",
        256,
    ) {
        return;
    }
    let programs = [
        ("g1 ev(@N, S + S) :- ev(@N, S).", Value::from("ab")),
        (
            "g1 ev(@N, f_concat(L, L)) :- ev(@N, L).",
            Value::from(vec![Value::from(1)]),
        ),
        (
            "g1 ev(@N, f_tostr(f_append(S))) :- ev(@N, S).",
            Value::from("a"),
        ),
    ];
    for (program, start) in programs {
        eprintln!("{program}");
        let loaded = load_str("grow.olg", program, &options()).expect("compiles");
        let mut config = NodeConfig::new("n", 1);
        config.max_derivations_per_tick = 10_000;
        let mut node = Node::new(Arc::new(loaded.plan), config).expect("no parameters");
        node.start(0);
        node.inject("ev", vec![Value::from("n"), start].into())
            .expect("ev has two fields");
        let mut out = Output::default();
        while node.step(0, &mut out) {}
        assert!(
            !out.problems.is_empty(),
            "the runaway was stopped and reported"
        );
    }
}

/// Found by this fuzz: a rule that joins a table with itself and writes a
/// fresh row per pair squares the table at every tick, all at one instant.
/// Its derivations are table writes, not events: the per-tick bound counts
/// every derivation, and stops a strand in the middle of its join.
#[test]
fn a_table_that_squares_itself_at_each_tick_does_not_exhaust_memory() {
    if in_child(
        "a_table_that_squares_itself_at_each_tick_does_not_exhaust_memory",
        256,
    ) {
        return;
    }
    let loaded = load_str(
        "square.olg",
        "materialize(b, infinity, infinity).\n\
         b(LOCALADDRESS, 1).\n\
         b(LOCALADDRESS, 2).\n\
         r1 b(@X, f_rand()) :- b(@X, Y), b(@X, Z).\n",
        &options(),
    )
    .expect("compiles");
    let mut config = NodeConfig::new("n", 1);
    config.max_ticks_per_instant = 100;
    config.max_derivations_per_tick = 10_000;
    let mut node = Node::new(Arc::new(loaded.plan), config).expect("no parameters");
    node.start(0);
    let mut out = Output::default();
    let mut ticks = 0;
    while node.step(0, &mut out) {
        ticks += 1;
        eprintln!(
            "tick {ticks}: {} rows",
            node.table("b").expect("a table").len()
        );
    }
    assert!(
        !out.problems.is_empty(),
        "the runaway was stopped and reported"
    );
}
