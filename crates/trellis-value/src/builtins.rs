//! The built-in `f_*` functions. Pure ones compute from their arguments;
//! `f_now`, `f_rand`, `f_drand`, `f_coinFlip` and `f_idgen` read the node's
//! clock and seeded random source through [`Env`], never their own.

use std::sync::Arc;

use sha1::{Digest, Sha1};

use crate::id::{Id, U160};
use crate::lattice_fns;
use crate::{EvalError, Value};

/// What a built-in may read from the node evaluating it.
pub trait Env {
    /// The node's clock, in seconds.
    fn now(&self) -> f64;
    /// The next number of the node's seeded random source.
    fn random_u64(&mut self) -> u64;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arity {
    pub min: usize,
    pub max: usize,
}

pub struct Builtin {
    pub name: &'static str,
    pub arity: Arity,
    /// One line for `--help` and the language reference.
    pub summary: &'static str,
    pub eval: fn(&[Value], &mut dyn Env) -> Result<Value, EvalError>,
}

impl Builtin {
    /// Draws from the node's random source: every derivation must call it
    /// afresh, so the planner never evaluates it once for many.
    pub fn is_random(&self) -> bool {
        matches!(self.name, "f_coinFlip" | "f_drand" | "f_idgen" | "f_rand")
    }
}

/// Every built-in, sorted by name so [`builtin`] can binary-search.
pub fn builtins() -> &'static [Builtin] {
    &BUILTINS
}

/// Looks a function up by its exact (case-sensitive) name.
pub fn builtin(name: &str) -> Option<&'static Builtin> {
    BUILTINS
        .binary_search_by(|b| b.name.cmp(name))
        .ok()
        .map(|i| &BUILTINS[i])
}

const fn entry(
    name: &'static str,
    args: usize,
    summary: &'static str,
    eval: fn(&[Value], &mut dyn Env) -> Result<Value, EvalError>,
) -> Builtin {
    Builtin {
        name,
        arity: Arity {
            min: args,
            max: args,
        },
        summary,
        eval,
    }
}

static BUILTINS: [Builtin; 27] = [
    entry(
        "f_append",
        1,
        "f_append(X): the one-element list [X]",
        append,
    ),
    entry(
        "f_bitlen",
        1,
        "f_bitlen(X): the number of bits of a non-negative integer or ID (0 for 0); a Trellis extension",
        bitlen,
    ),
    entry(
        "f_car",
        1,
        "f_car(L): the first element of a non-empty list",
        car,
    ),
    entry(
        "f_cdr",
        1,
        "f_cdr(L): the list without its first element",
        cdr,
    ),
    entry(
        "f_coinFlip",
        1,
        "f_coinFlip(P): 1 with probability P, else 0",
        coin_flip,
    ),
    entry(
        "f_concat",
        2,
        "f_concat(L1, L2): L1 followed by L2 (a non-list counts as [X])",
        concat,
    ),
    entry(
        "f_cons",
        2,
        "f_cons(X, L): the list L with X prepended",
        cons,
    ),
    entry("f_drand", 0, "f_drand(): a random float in [0, 1)", drand),
    entry("f_empty", 0, "f_empty(): the empty list", empty),
    entry(
        "f_gcInc",
        3,
        "f_gcInc(C, R, N): the gcounter C with replica R's count raised by N >= 0 (C null: an empty counter)",
        lattice_fns::gc_inc,
    ),
    entry(
        "f_gcValue",
        1,
        "f_gcValue(C): the count of a gcounter (the sum over its replicas)",
        lattice_fns::gc_value,
    ),
    entry("f_idgen", 0, "f_idgen(): a random 160-bit ID", idgen),
    entry(
        "f_mapGet",
        2,
        "f_mapGet(M, K): the value under key K in the map M (a list of [key, value] pairs), or null",
        lattice_fns::map_get,
    ),
    entry(
        "f_mapOf",
        2,
        "f_mapOf(K, V): the one-entry map [[K, V]]",
        lattice_fns::map_of,
    ),
    entry("f_max", 2, "f_max(A, B): the greater of A and B", max),
    entry(
        "f_member",
        2,
        "f_member(L, X): 1 if X is an element of the list L, else 0",
        member,
    ),
    entry("f_min", 2, "f_min(A, B): the lesser of A and B", min),
    entry(
        "f_now",
        0,
        "f_now(): the node's clock in seconds (float)",
        now,
    ),
    entry(
        "f_nth",
        2,
        "f_nth(L, I): the element of the list L at position I, from 0; a Trellis extension",
        nth,
    ),
    entry(
        "f_pnDec",
        3,
        "f_pnDec(C, R, N): the pncounter C with replica R's decrements raised by N >= 0",
        lattice_fns::pn_dec,
    ),
    entry(
        "f_pnInc",
        3,
        "f_pnInc(C, R, N): the pncounter C with replica R's increments raised by N >= 0",
        lattice_fns::pn_inc,
    ),
    entry(
        "f_pnValue",
        1,
        "f_pnValue(C): a pncounter's increments minus its decrements",
        lattice_fns::pn_value,
    ),
    entry(
        "f_rand",
        0,
        "f_rand(): a random non-negative 63-bit integer",
        rand,
    ),
    entry(
        "f_sha1",
        1,
        "f_sha1(X): the SHA-1 of X's string form, as an ID",
        sha1,
    ),
    entry(
        "f_size",
        1,
        "f_size(L): the number of elements of a list (characters of a string)",
        size,
    ),
    entry("f_tostr", 1, "f_tostr(X): the string form of X", tostr),
    entry("f_typeOf", 1, "f_typeOf(X): the name of X's type", type_of),
];

/// The arguments as an array of the expected length. The planner checks
/// arity at compile time, so a mismatch here is reported, not trusted.
pub(crate) fn args<'a, const N: usize>(
    function: &'static str,
    args: &'a [Value],
) -> Result<&'a [Value; N], EvalError> {
    args.try_into().map_err(|_| EvalError::Domain {
        function,
        problem: "wrong number of arguments",
    })
}

fn wrong_type(
    function: &'static str,
    position: usize,
    expected: &'static str,
    found: &Value,
) -> EvalError {
    EvalError::Argument {
        function,
        position,
        expected,
        found: found.type_name(),
    }
}

fn list_arg<'a>(
    function: &'static str,
    position: usize,
    v: &'a Value,
) -> Result<&'a [Value], EvalError> {
    match v {
        Value::List(items) => Ok(items),
        other => Err(wrong_type(function, position, "a list", other)),
    }
}

fn unit_float(env: &mut dyn Env) -> f64 {
    // The top 53 bits: every float of this form is exactly representable.
    (env.random_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn now(a: &[Value], env: &mut dyn Env) -> Result<Value, EvalError> {
    args::<0>("f_now", a)?;
    Ok(Value::Float(env.now()))
}

fn rand(a: &[Value], env: &mut dyn Env) -> Result<Value, EvalError> {
    args::<0>("f_rand", a)?;
    Ok(Value::Int((env.random_u64() >> 1) as i64))
}

fn drand(a: &[Value], env: &mut dyn Env) -> Result<Value, EvalError> {
    args::<0>("f_drand", a)?;
    Ok(Value::Float(unit_float(env)))
}

fn coin_flip(a: &[Value], env: &mut dyn Env) -> Result<Value, EvalError> {
    let [p] = args("f_coinFlip", a)?;
    let p = match p {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Id(id) => id.to_f64(),
        other => return Err(wrong_type("f_coinFlip", 1, "a number", other)),
    };
    Ok(Value::Int(i64::from(unit_float(env) < p)))
}

fn sha1(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x] = args("f_sha1", a)?;
    Ok(Value::Id(sha1_id(&crate::bounded_string(&[x])?)))
}

/// The ID `f_sha1` gives for a string: drivers use it for a node's default
/// `NODEID`, the SHA-1 of its address.
pub fn sha1_id(text: &str) -> Id {
    Id::from_be_bytes(Sha1::digest(text.as_bytes()).into())
}

fn idgen(a: &[Value], env: &mut dyn Env) -> Result<Value, EvalError> {
    args::<0>("f_idgen", a)?;
    let limbs = [
        env.random_u64(),
        env.random_u64(),
        env.random_u64() & 0xffff_ffff,
    ];
    Ok(Value::Id(Id(U160::from_limbs(limbs))))
}

fn tostr(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x] = args("f_tostr", a)?;
    Ok(Value::Str(crate::bounded_string(&[x])?.into()))
}

fn size(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x] = args("f_size", a)?;
    let n = match x {
        Value::List(items) => items.len(),
        Value::Str(s) => s.chars().count(),
        other => return Err(wrong_type("f_size", 1, "a list or a string", other)),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn append(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x] = args("f_append", a)?;
    crate::bounded_list(vec![x.clone()])
}

fn cons(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x, l] = args("f_cons", a)?;
    let rest = list_arg("f_cons", 2, l)?;
    crate::bounded_list(std::iter::once(x).chain(rest).cloned().collect())
}

fn car(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [l] = args("f_car", a)?;
    list_arg("f_car", 1, l)?
        .first()
        .cloned()
        .ok_or(EvalError::Domain {
            function: "f_car",
            problem: "the list is empty",
        })
}

fn nth(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [l, i] = args("f_nth", a)?;
    let items = list_arg("f_nth", 1, l)?;
    let Value::Int(i) = i else {
        return Err(wrong_type("f_nth", 2, "an integer", i));
    };
    usize::try_from(*i)
        .ok()
        .and_then(|i| items.get(i))
        .cloned()
        .ok_or(EvalError::Domain {
            function: "f_nth",
            problem: "the position is not in the list",
        })
}

fn cdr(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [l] = args("f_cdr", a)?;
    let items = list_arg("f_cdr", 1, l)?;
    Ok(Value::List(items.get(1..).unwrap_or_default().into()))
}

fn concat(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x, y] = args("f_concat", a)?;
    fn items(v: &Value) -> &[Value] {
        match v {
            Value::List(items) => items,
            other => std::slice::from_ref(other),
        }
    }
    if items(x).len() + items(y).len() > crate::MAX_LIST_LEN {
        return Err(EvalError::TooLarge {
            what: "the list",
            limit: "65,536 elements",
        });
    }
    crate::bounded_list(items(x).iter().chain(items(y)).cloned().collect())
}

fn member(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [l, x] = args("f_member", a)?;
    let items = list_arg("f_member", 1, l)?;
    let found = items.iter().any(|item| item.numeric_cmp(x).is_eq());
    Ok(Value::Int(i64::from(found)))
}

fn empty(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    args::<0>("f_empty", a)?;
    Ok(Value::List(Arc::new([])))
}

fn max(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x, y] = args("f_max", a)?;
    Ok(x.max(y).clone())
}

fn min(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x, y] = args("f_min", a)?;
    Ok(x.min(y).clone())
}

fn bitlen(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x] = args("f_bitlen", a)?;
    match x {
        Value::Int(i) if *i >= 0 => Ok(Value::Int(i64::from(64 - i.leading_zeros()))),
        Value::Id(id) => Ok(Value::Int(id.0.bit_len() as i64)),
        Value::Int(_) => Err(EvalError::Domain {
            function: "f_bitlen",
            problem: "the argument is negative",
        }),
        other => Err(EvalError::Argument {
            function: "f_bitlen",
            position: 1,
            expected: "an integer or an ID",
            found: other.type_name(),
        }),
    }
}

fn type_of(a: &[Value], _: &mut dyn Env) -> Result<Value, EvalError> {
    let [x] = args("f_typeOf", a)?;
    Ok(Value::str(x.type_name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::tests::{id, list};

    /// A clock at 12.5 s and a random source replaying `draws`.
    struct Replay {
        draws: Vec<u64>,
    }

    impl Env for Replay {
        fn now(&self) -> f64 {
            12.5
        }
        fn random_u64(&mut self) -> u64 {
            self.draws.remove(0)
        }
    }

    fn call_with(draws: &[u64], name: &str, args: &[Value]) -> Result<Value, EvalError> {
        let f = builtin(name).unwrap_or_else(|| panic!("no {name}"));
        let mut env = Replay {
            draws: draws.to_vec(),
        };
        (f.eval)(args, &mut env)
    }

    fn call(name: &str, args: &[Value]) -> Value {
        call_with(&[], name, args).unwrap_or_else(|e| panic!("{name}{args:?}: {e}"))
    }

    fn int(i: i64) -> Value {
        Value::Int(i)
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    #[test]
    fn nth_reads_a_list_by_position() {
        let l = Value::List(vec![s("a"), int(7)].into());
        assert_eq!(call("f_nth", &[l.clone(), int(1)]), int(7));
        assert!(call_with(&[], "f_nth", &[l.clone(), int(2)]).is_err());
        assert!(call_with(&[], "f_nth", &[l.clone(), int(-1)]).is_err());
        assert!(call_with(&[], "f_nth", &[l, s("0")]).is_err());
    }

    #[test]
    fn table_is_sorted_and_complete() {
        let names: Vec<_> = builtins().iter().map(|b| b.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(names, sorted);
        assert_eq!(names.len(), 27);
        for b in builtins() {
            assert!(std::ptr::eq(builtin(b.name).unwrap(), b));
            assert!(b.name.starts_with("f_") && !b.summary.is_empty());
            assert!(b.arity.min <= b.arity.max);
        }
        assert!(builtin("f_coinflip").is_none());
        assert!(builtin("f_nope").is_none());
        assert_eq!(builtin("f_cons").unwrap().arity, Arity { min: 2, max: 2 });
        assert_eq!(builtin("f_now").unwrap().arity, Arity { min: 0, max: 0 });
    }

    #[test]
    fn wrong_arity_is_an_error_not_a_panic() {
        let too_many = vec![int(1); 3];
        for b in builtins() {
            for args in [&too_many[..], &too_many[..b.arity.min.saturating_sub(1)]] {
                if (b.arity.min..=b.arity.max).contains(&args.len()) {
                    continue;
                }
                let result = call_with(&[1, 2, 3], b.name, args);
                assert!(
                    matches!(result, Err(EvalError::Domain { function, .. }) if function == b.name),
                    "{}: {result:?}",
                    b.name
                );
            }
        }
    }

    #[test]
    fn clock_and_random_source() {
        assert_eq!(call("f_now", &[]), Value::Float(12.5));
        assert_eq!(call_with(&[u64::MAX], "f_rand", &[]), Ok(int(i64::MAX)));
        assert_eq!(call_with(&[3], "f_rand", &[]), Ok(int(1)));
        assert_eq!(call_with(&[0], "f_drand", &[]), Ok(Value::Float(0.0)));
        assert_eq!(call_with(&[1 << 63], "f_drand", &[]), Ok(Value::Float(0.5)));
        let Ok(Value::Float(top)) = call_with(&[u64::MAX], "f_drand", &[]) else {
            panic!("f_drand is not a float");
        };
        assert!(top < 1.0);
        let idgen = call_with(&[1, 2, u64::MAX], "f_idgen", &[]).unwrap();
        assert_eq!(
            idgen.to_string(),
            "0xffffffff00000000000000020000000000000001I"
        );
    }

    #[test]
    fn coin_flip() {
        let half = 1u64 << 63;
        assert_eq!(
            call_with(&[half - 1], "f_coinFlip", &[Value::Float(0.5)]),
            Ok(int(1))
        );
        assert_eq!(
            call_with(&[half], "f_coinFlip", &[Value::Float(0.5)]),
            Ok(int(0))
        );
        assert_eq!(call_with(&[u64::MAX], "f_coinFlip", &[int(1)]), Ok(int(1)));
        assert_eq!(call_with(&[0], "f_coinFlip", &[int(0)]), Ok(int(0)));
        assert_eq!(call_with(&[0], "f_coinFlip", &[id(1)]), Ok(int(1)));
        assert_eq!(
            call_with(&[0], "f_coinFlip", &[s("0.5")]),
            Err(EvalError::Argument {
                function: "f_coinFlip",
                position: 1,
                expected: "a number",
                found: "string"
            })
        );
    }

    #[test]
    fn values_that_double_stop_at_the_limits() {
        let mut v = s("ab");
        let mut steps = 0;
        while let Ok(next) = crate::binary(crate::BinaryOp::Add, &v, &v) {
            v = next;
            steps += 1;
        }
        assert_eq!(steps, 19, "1 MiB reached by doubling a 2-byte string");
        let mut l = call("f_append", &[int(1)]);
        while let Ok(next) = call_with(&[], "f_concat", &[l.clone(), l.clone()]) {
            l = next;
        }
        assert!(matches!(&l, Value::List(items) if items.len() == crate::MAX_LIST_LEN));
        let mut nested = int(0);
        let mut depth = 0;
        while let Ok(next) = call_with(&[], "f_append", &[nested.clone()]) {
            nested = next;
            depth += 1;
        }
        assert_eq!(depth, crate::MAX_LIST_DEPTH);
        let mut t = s("x");
        let mut grew = 0;
        while let Ok(next) = call_with(&[], "f_tostr", &[call("f_append", &[t.clone()])]) {
            t = next;
            grew += 1;
        }
        assert!(grew > 5 && grew < 40, "{grew}");
    }

    #[test]
    fn bit_length() {
        assert_eq!(call("f_bitlen", &[int(0)]), int(0));
        assert_eq!(call("f_bitlen", &[int(1)]), int(1));
        assert_eq!(call("f_bitlen", &[int(8)]), int(4));
        assert_eq!(call("f_bitlen", &[Value::Id(Id::MAX)]), int(160));
        assert_eq!(call("f_bitlen", &[Value::Id(Id::from_u64(0))]), int(0));
        assert!(call_with(&[], "f_bitlen", &[int(-1)]).is_err());
        assert!(call_with(&[], "f_bitlen", &[s("x")]).is_err());
    }

    #[test]
    fn sha1_of_the_string_form() {
        assert_eq!(
            call("f_sha1", &[s("abc")]).to_string(),
            "0xa9993e364706816aba3e25717850c26c9cd0d89dI"
        );
        assert_eq!(
            call("f_sha1", &[s("")]).to_string(),
            "0xda39a3ee5e6b4b0d3255bfef95601890afd80709I"
        );
        assert_eq!(call("f_sha1", &[int(42)]), call("f_sha1", &[s("42")]));
        assert_eq!(call("f_sha1", &[id(1)]), call("f_sha1", &[s("0x1I")]));
    }

    #[test]
    fn strings_and_types() {
        assert_eq!(call("f_tostr", &[Value::Float(2.0)]), s("2.0"));
        assert_eq!(call("f_tostr", &[s("a\"b")]), s("a\"b"));
        assert_eq!(
            call("f_tostr", &[list(&[s("a"), id(10)])]),
            s("[\"a\", 0xaI]")
        );
        assert_eq!(call("f_tostr", &[Value::Null]), s("null"));
        assert_eq!(call("f_typeOf", &[id(1)]), s("id"));
        assert_eq!(call("f_typeOf", &[Value::Null]), s("null"));
        assert_eq!(call("f_typeOf", &[list(&[])]), s("list"));
    }

    #[test]
    fn lists() {
        let l = list(&[int(1), s("b"), id(3)]);
        assert_eq!(call("f_size", std::slice::from_ref(&l)), int(3));
        assert_eq!(call("f_size", &[s("héllo")]), int(5));
        assert_eq!(call("f_empty", &[]), list(&[]));
        assert_eq!(call("f_size", &[call("f_empty", &[])]), int(0));
        assert_eq!(call("f_append", &[int(7)]), list(&[int(7)]));
        assert_eq!(
            call("f_append", std::slice::from_ref(&l)),
            list(std::slice::from_ref(&l))
        );
        assert_eq!(
            call("f_cons", &[int(0), l.clone()]),
            list(&[int(0), int(1), s("b"), id(3)])
        );
        assert_eq!(call("f_car", std::slice::from_ref(&l)), int(1));
        assert_eq!(
            call("f_cdr", std::slice::from_ref(&l)),
            list(&[s("b"), id(3)])
        );
        assert_eq!(call("f_cdr", &[list(&[])]), list(&[]));
        assert_eq!(
            call_with(&[], "f_car", &[list(&[])]),
            Err(EvalError::Domain {
                function: "f_car",
                problem: "the list is empty"
            })
        );
        assert_eq!(
            call("f_concat", &[l.clone(), list(&[int(9)])]),
            list(&[int(1), s("b"), id(3), int(9)])
        );
        assert_eq!(
            call("f_concat", &[int(0), l.clone()]),
            call("f_cons", &[int(0), l.clone()])
        );
        assert_eq!(call("f_concat", &[int(0), int(1)]), list(&[int(0), int(1)]));
        assert_eq!(call("f_member", &[l.clone(), s("b")]), int(1));
        assert_eq!(call("f_member", &[l.clone(), Value::Float(3.0)]), int(1));
        assert_eq!(call("f_member", &[l.clone(), int(2)]), int(0));
        assert_eq!(call("f_member", &[list(&[]), Value::Null]), int(0));
        assert_eq!(
            call("f_member", &[list(&[Value::Null]), Value::Null]),
            int(1)
        );
    }

    #[test]
    fn list_argument_errors() {
        let cases = [
            ("f_size", vec![int(1)], 1, "a list or a string"),
            ("f_car", vec![s("ab")], 1, "a list"),
            ("f_cdr", vec![Value::Null], 1, "a list"),
            ("f_cons", vec![int(1), int(2)], 2, "a list"),
            ("f_member", vec![int(1), int(1)], 1, "a list"),
        ];
        for (function, args, position, expected) in cases {
            assert_eq!(
                call_with(&[], function, &args),
                Err(EvalError::Argument {
                    function,
                    position,
                    expected,
                    found: args[position - 1].type_name()
                })
            );
        }
    }

    #[test]
    fn min_and_max_are_total() {
        assert_eq!(call("f_max", &[int(1), int(2)]), int(2));
        assert_eq!(
            call("f_min", &[int(1), Value::Float(0.5)]),
            Value::Float(0.5)
        );
        assert_eq!(call("f_max", &[id(5), int(4)]), id(5));
        assert_eq!(call("f_min", &[s("b:1"), s("a:2")]), s("a:2"));
        assert_eq!(call("f_max", &[s("a"), int(100)]), s("a"));
        assert_eq!(
            call("f_min", &[Value::Bool(true), int(0)]),
            Value::Bool(true)
        );
    }
}
