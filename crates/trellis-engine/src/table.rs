//! A materialized table on one node: rows in slots, a primary-key map, the
//! secondary indexes the plan asked for, and an insertion/refresh order that
//! serves both lifetime expiry and `max_size` eviction (a table has one
//! lifetime, so the least recently refreshed row is also the first to
//! expire).
//!
//! Maps are keyed by a hash of the key columns (FxHash, no random seed) and
//! hold slot numbers; callers compare the actual columns. Iteration follows
//! slot order, which depends only on the sequence of operations.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHasher};
use smallvec::SmallVec;
use trellis_plan::TableSpec;
use trellis_value::Value;

use crate::{Time, Tuple};

pub(crate) type Slot = u32;

#[derive(Debug)]
pub(crate) struct Row {
    pub tuple: Tuple,
    /// The tick in which this row is new (a delta).
    pub stamp: u64,
    /// `Time::MAX` when the table's lifetime is infinite.
    pub expires: Time,
    /// Position in the refresh order.
    seq: u64,
}

#[derive(Debug)]
struct Index {
    columns: Vec<usize>,
    map: FxHashMap<u64, SmallVec<[Slot; 2]>>,
}

/// What an insert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Insert {
    New,
    /// A row with the same key and different fields was replaced;
    /// `previous_stamp` tells whether it was itself written in this batch.
    Replaced {
        old: Tuple,
        previous_stamp: u64,
    },
    /// An identical row was refreshed; `extended` when its expiry moved.
    Refreshed {
        extended: bool,
    },
}

#[derive(Debug)]
pub(crate) struct Table {
    pub spec: TableSpec,
    slots: Vec<Option<Row>>,
    free: Vec<Slot>,
    len: usize,
    primary: FxHashMap<u64, SmallVec<[Slot; 1]>>,
    indexes: Vec<Index>,
    order: VecDeque<(u64, Slot)>,
    next_seq: u64,
    /// Slots that are deltas of the tick in `delta_tick`.
    deltas: Vec<Slot>,
    delta_tick: u64,
}

pub(crate) fn hash_columns<'a>(values: impl Iterator<Item = &'a Value>) -> u64 {
    let mut h = FxHasher::default();
    for v in values {
        v.hash(&mut h);
    }
    h.finish()
}

impl Table {
    pub fn new(spec: TableSpec, index_columns: &[Vec<usize>]) -> Table {
        Table {
            spec,
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            primary: FxHashMap::default(),
            indexes: index_columns
                .iter()
                .map(|c| Index {
                    columns: c.clone(),
                    map: FxHashMap::default(),
                })
                .collect(),
            order: VecDeque::new(),
            next_seq: 0,
            deltas: Vec::new(),
            delta_tick: 0,
        }
    }

    pub fn row(&self, slot: Slot) -> Option<&Row> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    /// Every row, in slot order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.slots.iter().flatten()
    }

    /// The rows that are deltas of `tick`.
    pub fn deltas(&self, tick: u64) -> impl Iterator<Item = &Row> {
        let list: &[Slot] = if self.delta_tick == tick {
            &self.deltas
        } else {
            &[]
        };
        list.iter()
            .filter_map(|s| self.row(*s))
            .filter(move |r| r.stamp == tick)
    }

    pub fn has_deltas(&self, tick: u64) -> bool {
        self.deltas(tick).next().is_some()
    }

    /// Candidate slots whose index columns hash to `hash` (callers check the
    /// columns themselves).
    pub fn index_candidates(&self, index: usize, hash: u64) -> &[Slot] {
        self.indexes[index]
            .map
            .get(&hash)
            .map_or(&[], |s| s.as_slice())
    }

    fn key_hash(&self, tuple: &[Value]) -> u64 {
        hash_columns(self.spec.key.iter().map(|&c| &tuple[c]))
    }

    fn same_key(&self, a: &[Value], b: &[Value]) -> bool {
        self.spec.key.iter().all(|&c| a[c] == b[c])
    }

    /// The slot of the row whose key matches `tuple`'s.
    pub fn find_key(&self, tuple: &[Value]) -> Option<Slot> {
        let h = self.key_hash(tuple);
        self.primary
            .get(&h)?
            .iter()
            .copied()
            .find(|&s| self.row(s).is_some_and(|r| self.same_key(&r.tuple, tuple)))
    }

    /// Would writing `tuple` now change nothing at all (an identical row
    /// that never expires, in a table that never evicts)?
    pub fn write_is_noop(&self, tuple: &[Value]) -> bool {
        self.spec.lifetime_nanos.is_none()
            && self.spec.max_size.is_none()
            && self
                .find_key(tuple)
                .and_then(|s| self.row(s))
                .is_some_and(|r| *r.tuple == *tuple)
    }

    /// Insert, replace or refresh; the row becomes a delta of `stamp` unless
    /// it is a refresh that does not extend its lifetime.
    pub fn insert(&mut self, tuple: Tuple, now: Time, stamp: u64) -> Insert {
        let expires = match self.spec.lifetime_nanos {
            Some(l) => now.saturating_add(l),
            None => Time::MAX,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        if let Some(slot) = self.find_key(&tuple) {
            let row = self.slots[slot as usize].as_mut().expect("found above");
            let outcome = if row.tuple == tuple {
                let extended = expires > row.expires;
                row.expires = row.expires.max(expires);
                Insert::Refreshed { extended }
            } else {
                let old = std::mem::replace(&mut row.tuple, tuple);
                row.expires = expires;
                Insert::Replaced {
                    old,
                    previous_stamp: row.stamp,
                }
            };
            row.seq = seq;
            self.order.push_back((seq, slot));
            let delta = !matches!(outcome, Insert::Refreshed { extended: false });
            if let Insert::Replaced { old, .. } = &outcome {
                let new = self.slots[slot as usize]
                    .as_ref()
                    .expect("present")
                    .tuple
                    .clone();
                for i in 0..self.indexes.len() {
                    self.unindex(i, old, slot);
                    self.index(i, &new, slot);
                }
            }
            if delta {
                self.mark_delta(slot, stamp);
            }
            return outcome;
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                self.slots.len() as Slot - 1
            }
        };
        let h = self.key_hash(&tuple);
        self.primary.entry(h).or_default().push(slot);
        for i in 0..self.indexes.len() {
            self.index(i, &tuple, slot);
        }
        self.slots[slot as usize] = Some(Row {
            tuple,
            stamp: 0,
            expires,
            seq,
        });
        self.len += 1;
        self.order.push_back((seq, slot));
        self.mark_delta(slot, stamp);
        Insert::New
    }

    fn mark_delta(&mut self, slot: Slot, stamp: u64) {
        if self.delta_tick != stamp {
            self.deltas.clear();
            self.delta_tick = stamp;
        }
        let row = self.slots[slot as usize].as_mut().expect("present");
        if row.stamp != stamp {
            row.stamp = stamp;
            self.deltas.push(slot);
        }
    }

    fn index(&mut self, i: usize, tuple: &[Value], slot: Slot) {
        let index = &mut self.indexes[i];
        let h = hash_columns(index.columns.iter().map(|&c| &tuple[c]));
        index.map.entry(h).or_default().push(slot);
    }

    fn unindex(&mut self, i: usize, tuple: &[Value], slot: Slot) {
        let index = &mut self.indexes[i];
        let h = hash_columns(index.columns.iter().map(|&c| &tuple[c]));
        if let Some(list) = index.map.get_mut(&h) {
            if let Some(p) = list.iter().position(|&s| s == slot) {
                list.remove(p);
            }
            if list.is_empty() {
                index.map.remove(&h);
            }
        }
    }

    /// Remove the row with `tuple`'s key; returns it.
    pub fn delete_key(&mut self, tuple: &[Value]) -> Option<Tuple> {
        let slot = self.find_key(tuple)?;
        Some(self.remove_slot(slot))
    }

    fn remove_slot(&mut self, slot: Slot) -> Tuple {
        let row = self.slots[slot as usize].take().expect("present");
        let h = self.key_hash(&row.tuple);
        if let Some(list) = self.primary.get_mut(&h) {
            list.retain(|s| *s != slot);
            if list.is_empty() {
                self.primary.remove(&h);
            }
        }
        for i in 0..self.indexes.len() {
            self.unindex(i, &row.tuple, slot);
        }
        self.free.push(slot);
        self.len -= 1;
        row.tuple
    }

    /// Remove rows whose lifetime is over at `now`, oldest first.
    pub fn expire(&mut self, now: Time, removed: &mut Vec<Tuple>) {
        if self.spec.lifetime_nanos.is_none() {
            return;
        }
        while let Some(&(seq, slot)) = self.order.front() {
            match self.row(slot) {
                Some(r) if r.seq == seq => {
                    if r.expires > now {
                        break;
                    }
                    self.order.pop_front();
                    removed.push(self.remove_slot(slot));
                }
                // Stale entry: the row was refreshed, replaced or removed.
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }

    /// Evict the least recently inserted or refreshed rows above `max_size`.
    pub fn evict(&mut self, removed: &mut Vec<Tuple>) {
        let Some(max) = self.spec.max_size else {
            return;
        };
        while self.len > max {
            let Some((seq, slot)) = self.order.pop_front() else {
                break;
            };
            if self.row(slot).is_some_and(|r| r.seq == seq) {
                removed.push(self.remove_slot(slot));
            }
        }
    }

    /// Drop stale entries from the refresh order when it has grown much
    /// larger than the table (refresh-heavy workloads).
    pub fn compact(&mut self) {
        if self.order.len() > 64 && self.order.len() > 4 * self.len {
            let slots = &self.slots;
            self.order.retain(|&(seq, slot)| {
                slots
                    .get(slot as usize)
                    .and_then(Option::as_ref)
                    .is_some_and(|r| r.seq == seq)
            });
        }
    }
}
