//! User measurements: start and end tuples matched on a key give a latency,
//! sends of a hop relation in between count hops (LANGUAGE-level: "match
//! `lookup` sent with `lookupResults` received by request id").

use std::collections::BTreeMap;

use trellis_engine::{Record, RecordKind, Time, Tuple};
use trellis_plan::{Plan, RelId};
use trellis_value::Value;

use crate::SimError;
use crate::ring::RingState;
use crate::scenario::{Check, Measure, On, Point};

#[derive(Debug, Clone)]
struct Resolved {
    relation: RelId,
    key: usize,
    on: On,
}

impl Resolved {
    fn new(p: &Point, plan: &Plan, measure: &str) -> Result<Resolved, SimError> {
        let relation = plan.lookup(&p.relation).ok_or_else(|| SimError::Measure {
            name: measure.to_string(),
            problem: format!("the program has no relation `{}`", p.relation),
        })?;
        let arity = plan.relation(relation).arity;
        if p.key == 0 || p.key > arity {
            return Err(SimError::Measure {
                name: measure.to_string(),
                problem: format!(
                    "key field {} is out of range: `{}` has {arity} fields",
                    p.key, p.relation
                ),
            });
        }
        Ok(Resolved {
            relation,
            key: p.key - 1,
            on: p.on,
        })
    }

    fn matches(&self, rel: RelId, kind: On) -> bool {
        self.relation == rel && self.on == kind
    }
}

/// One completed measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub key: Value,
    pub start: Time,
    pub end: Time,
    pub hops: Option<u64>,
    /// The end tuple (e.g. a lookup result, to check it).
    pub result: Tuple,
    /// Whether the answer was the key's true successor (with a check).
    pub correct: Option<bool>,
}

#[derive(Debug)]
pub struct MeasureState {
    pub name: String,
    start: Resolved,
    end: Resolved,
    hops: Option<Resolved>,
    check: Option<Check>,
    pending: BTreeMap<Value, (Time, u64)>,
    pub samples: Vec<Sample>,
    pub started: u64,
}

impl MeasureState {
    /// How results are checked, if they are.
    pub fn check(&self) -> Option<&Check> {
        self.check.as_ref()
    }

    /// Started but never ended (e.g. failed lookups).
    pub fn incomplete(&self) -> usize {
        self.pending.len()
    }

    /// The keys of what started but never ended, in key order.
    pub fn incomplete_keys(&self) -> impl Iterator<Item = &Value> {
        self.pending.keys()
    }
}

#[derive(Debug, Default)]
pub struct Measurements {
    pub measures: Vec<MeasureState>,
}

/// What a measurement can start or end on; deletes and the "about to"
/// records (`a`, `z` watches) are none of it.
fn kind_of(k: RecordKind) -> Option<On> {
    match k {
        RecordKind::Insert | RecordKind::Refresh => Some(On::Insert),
        RecordKind::Event => Some(On::Event),
        RecordKind::Send => Some(On::Send),
        RecordKind::Recv => Some(On::Recv),
        RecordKind::Delete | RecordKind::Add | RecordKind::Remove => None,
    }
}

impl Measurements {
    pub fn new(specs: &[Measure], plan: &Plan) -> Result<Measurements, SimError> {
        let measures = specs
            .iter()
            .map(|m| {
                Ok(MeasureState {
                    name: m.name.clone(),
                    start: Resolved::new(&m.start, plan, &m.name)?,
                    end: Resolved::new(&m.end, plan, &m.name)?,
                    hops: m
                        .hops
                        .as_ref()
                        .map(|h| Resolved::new(h, plan, &m.name))
                        .transpose()?,
                    check: match &m.check {
                        Some(c) => {
                            let end = plan.lookup(&m.end.relation).expect("resolved above");
                            let arity = plan.relation(end).arity;
                            if c.key == 0 || c.key > arity || c.answer == 0 || c.answer > arity {
                                return Err(SimError::Measure {
                                    name: m.name.clone(),
                                    problem: format!("check fields must be between 1 and {arity}"),
                                });
                            }
                            Some(c.clone())
                        }
                        None => None,
                    },
                    pending: BTreeMap::new(),
                    samples: Vec::new(),
                    started: 0,
                })
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        Ok(Measurements { measures })
    }

    /// Relations whose records the measurements need.
    pub fn relations(&self) -> Vec<RelId> {
        let mut out: Vec<RelId> = self
            .measures
            .iter()
            .flat_map(|m| {
                [Some(&m.start), Some(&m.end), m.hops.as_ref()]
                    .into_iter()
                    .flatten()
                    .map(|r| r.relation)
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    pub fn observe(&mut self, r: &Record, now: Time, ring: Option<&RingState>) {
        if let Some(kind) = kind_of(r.kind) {
            self.happened(r.relation, kind, &r.tuple, now, ring);
        }
    }

    pub fn observe_inject(&mut self, rel: RelId, tuple: &Tuple, now: Time) {
        self.happened(rel, On::Inject, tuple, now, None);
    }

    fn happened(
        &mut self,
        rel: RelId,
        kind: On,
        tuple: &Tuple,
        now: Time,
        ring: Option<&RingState>,
    ) {
        for m in &mut self.measures {
            if m.start.matches(rel, kind) {
                let key = tuple[m.start.key].clone();
                if let std::collections::btree_map::Entry::Vacant(e) = m.pending.entry(key) {
                    e.insert((now, 0));
                    m.started += 1;
                }
            }
            if let Some(h) = &m.hops
                && h.matches(rel, kind)
                && let Some(p) = m.pending.get_mut(&tuple[h.key])
            {
                p.1 += 1;
            }
            if m.end.matches(rel, kind) {
                let key = &tuple[m.end.key];
                if let Some((start, hops)) = m.pending.remove(key) {
                    let correct = match (&m.check, ring) {
                        (Some(c), Some(ring)) => {
                            Some(match (&tuple[c.key - 1], &tuple[c.answer - 1]) {
                                (Value::Id(k), Value::Id(answer)) => {
                                    ring.successor_of(k) == Some(*answer)
                                }
                                _ => false,
                            })
                        }
                        _ => None,
                    };
                    m.samples.push(Sample {
                        key: key.clone(),
                        start,
                        end: now,
                        hops: m.hops.as_ref().map(|_| hops),
                        result: tuple.clone(),
                        correct,
                    });
                }
            }
        }
    }
}
