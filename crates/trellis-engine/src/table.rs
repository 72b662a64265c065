//! A materialized table on one node: rows in slots, a primary-key map, the
//! secondary indexes the plan asked for, and an insertion/refresh order that
//! serves both lifetime expiry and `max_size` eviction (a table has one
//! lifetime, so the least recently refreshed row is also the first to
//! expire).
//!
//! Rows are stored flat, `arity` values per slot, so that reading a row
//! (which every derivation's primary-key check does) is one memory access
//! rather than a chain of pointers. Maps are keyed by a hash of the key
//! columns (FxHash, no random seed) and hold slot numbers; callers compare
//! the actual columns. Iteration follows slot order, which depends only on
//! the sequence of operations.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};

use rustc_hash::{FxHashMap, FxHasher};
use smallvec::SmallVec;
use trellis_plan::TableSpec;
use trellis_value::Value;

use crate::{Time, Tuple};

pub(crate) type Slot = u32;

/// A row as strands read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Row<'a> {
    pub fields: &'a [Value],
    /// The tick in which this row is new (a delta).
    pub stamp: u64,
}

/// The stamp of a free slot.
const FREE: u64 = u64::MAX;

/// When a row expires and where it is in the refresh order; kept only for
/// tables whose rows expire or are evicted.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// `Time::MAX` when the table's lifetime is infinite.
    expires: Time,
    seq: u64,
}

#[derive(Debug)]
struct Index {
    columns: Vec<usize>,
    map: FxHashMap<u64, SmallVec<[Slot; 2]>>,
}

/// Slots keyed by a hash of their key columns: open addressing with linear
/// probing over one `u64` per entry (a 32-bit tag of the hash, then
/// slot + 1; 0 is empty). A probe usually reads one cache line and compares
/// a row only when the tags agree. The position comes from the tag, so
/// growing never reads a row.
#[derive(Debug, Default)]
struct KeyMap {
    entries: Vec<u64>,
    len: usize,
}

impl KeyMap {
    /// FxHash's low bits are its best mixed. (Mixing further spreads
    /// clusters but also the locality that related keys have, which was
    /// slower on transitive closure.)
    fn tag(hash: u64) -> u32 {
        hash as u32
    }

    fn entry(tag: u32, slot: Slot) -> u64 {
        (u64::from(tag) << 32) | (u64::from(slot) + 1)
    }

    fn home(&self, tag: u32) -> usize {
        tag as usize & (self.entries.len() - 1)
    }

    /// Start loading the entry where a probe for `hash` starts.
    fn prefetch(&self, hash: u64) {
        if !self.entries.is_empty() {
            prefetch(&self.entries[self.home(Self::tag(hash))]);
        }
    }

    /// The slot under `hash` for which `eq` holds.
    #[inline]
    fn find(&self, hash: u64, mut eq: impl FnMut(Slot) -> bool) -> Option<Slot> {
        if self.entries.is_empty() {
            return None;
        }
        let mask = self.entries.len() - 1;
        let tag = Self::tag(hash);
        let mut i = self.home(tag);
        loop {
            let e = self.entries[i];
            if e == 0 {
                return None;
            }
            if (e >> 32) as u32 == tag && eq(e as u32 - 1) {
                return Some(e as u32 - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// Add a slot that is not in the map.
    fn insert(&mut self, hash: u64, slot: Slot) {
        // At most 3/4 full: probes stay short.
        if (self.len + 1) * 4 > self.entries.len() * 3 {
            let capacity = (self.entries.len() * 2).max(8);
            let old = std::mem::replace(&mut self.entries, vec![0; capacity]);
            for e in old.into_iter().filter(|&e| e != 0) {
                self.place(e);
            }
        }
        self.place(Self::entry(Self::tag(hash), slot));
        self.len += 1;
    }

    fn place(&mut self, entry: u64) {
        let mask = self.entries.len() - 1;
        let mut i = self.home((entry >> 32) as u32);
        while self.entries[i] != 0 {
            i = (i + 1) & mask;
        }
        self.entries[i] = entry;
    }

    /// Remove a slot that is in the map under `hash`.
    fn remove(&mut self, hash: u64, slot: Slot) {
        let mask = self.entries.len() - 1;
        let tag = Self::tag(hash);
        let target = Self::entry(tag, slot);
        let mut hole = self.home(tag);
        while self.entries[hole] != target {
            assert_ne!(self.entries[hole], 0, "the slot is in the map");
            hole = (hole + 1) & mask;
        }
        // Backward-shift deletion: pull later entries of the run into the
        // hole when their home is not after it, so no probe meets a gap
        // before its entry.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let e = self.entries[j];
            if e == 0 {
                break;
            }
            let home = self.home((e >> 32) as u32);
            if j.wrapping_sub(home) & mask >= j.wrapping_sub(hole) & mask {
                self.entries[hole] = e;
                hole = j;
            }
        }
        self.entries[hole] = 0;
        self.len -= 1;
    }
}

/// Start loading the cache line that holds `x`, without waiting for it.
/// (Plain loads would do, but each one that misses holds up the loads
/// behind it; transitive closure ran 1.6 times slower with them.)
#[inline]
fn prefetch<T>(x: &T) {
    // SAFETY: a prefetch is a hint: it reads nothing the program can see,
    // cannot fault, and `x` is a valid reference anyway. SSE is part of the
    // x86_64 baseline; the call is `unsafe` only because the intrinsic is a
    // `#[target_feature]` function.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (x as *const T).cast(),
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// What an insert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Insert {
    New,
    /// A row with the same key and different fields was replaced;
    /// `previous_stamp` tells whether it was itself written in this batch.
    Replaced {
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
    arity: usize,
    /// `arity` fields per slot; a free slot holds nulls.
    values: Vec<Value>,
    /// Per slot: the tick in which the row is new (a delta), or [`FREE`].
    stamps: Vec<u64>,
    /// Per slot, when [`Table::ordered`].
    timing: Vec<Timing>,
    free: Vec<Slot>,
    len: usize,
    primary: KeyMap,
    indexes: Vec<Index>,
    /// When [`Table::ordered`]: (seq, slot), oldest first.
    order: VecDeque<(u64, Slot)>,
    next_seq: u64,
    /// Slots that are deltas of the tick in `delta_tick`.
    deltas: Vec<Slot>,
    delta_tick: u64,
}

pub(crate) fn hash_columns<'a>(values: impl Iterator<Item = &'a Value>) -> u64 {
    let mut h = FxHasher::default();
    for v in values {
        // `Value::hash`, with the commonest cases inline.
        match v {
            Value::Int(i) => {
                std::mem::discriminant(v).hash(&mut h);
                i.hash(&mut h);
            }
            Value::Str(s) => {
                std::mem::discriminant(v).hash(&mut h);
                s.hash(&mut h);
            }
            v => v.hash(&mut h),
        }
    }
    h.finish()
}

/// Move `from` into `to`, leaving nulls.
fn take(to: &mut [Value], from: &mut [Value]) {
    for (to, from) in to.iter_mut().zip(from) {
        *to = std::mem::replace(from, Value::Null);
    }
}

/// `a == b`, with the commonest cases inline.
#[inline]
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Str(x), Value::Str(y)) if std::sync::Arc::ptr_eq(x, y) => true,
        _ => a == b,
    }
}

impl Table {
    pub fn new(spec: TableSpec, arity: usize, index_columns: &[Vec<usize>]) -> Table {
        debug_assert!(arity > 0, "every relation has a location field");
        Table {
            spec,
            arity,
            values: Vec::new(),
            stamps: Vec::new(),
            timing: Vec::new(),
            free: Vec::new(),
            len: 0,
            primary: KeyMap::default(),
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

    fn fields(&self, slot: Slot) -> &[Value] {
        let start = slot as usize * self.arity;
        &self.values[start..start + self.arity]
    }

    pub fn row(&self, slot: Slot) -> Option<Row<'_>> {
        let stamp = *self.stamps.get(slot as usize)?;
        (stamp != FREE).then(|| Row {
            fields: self.fields(slot),
            stamp,
        })
    }

    /// Every row, in slot order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.stamps
            .iter()
            .zip(self.values.chunks_exact(self.arity))
            .filter(|(stamp, _)| **stamp != FREE)
            .map(|(&stamp, fields)| Row { fields, stamp })
    }

    /// The rows that are deltas of `tick`.
    pub fn deltas(&self, tick: u64) -> impl Iterator<Item = Row<'_>> {
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

    pub fn key_hash(&self, tuple: &[Value]) -> u64 {
        hash_columns(self.spec.key.iter().map(|&c| &tuple[c]))
    }

    /// The slot of the row whose key matches `tuple`'s; `hash` is its key
    /// hash.
    fn find_key(&self, tuple: &[Value], hash: u64) -> Option<Slot> {
        self.primary.find(hash, |s| {
            let row = self.fields(s);
            self.spec.key.iter().all(|&c| same(&row[c], &tuple[c]))
        })
    }

    /// Can a write to this table be dropped when the table already holds
    /// it? Its rows must never expire nor be evicted (a refresh would
    /// matter), and its key must be every field: then any other write to
    /// the same key in the tick is the same tuple. With a narrower key, a
    /// repeat of the current row can still win a key conflict against a
    /// different write earlier in the tick (docs/language.md §5.5), so it
    /// must be applied.
    pub fn noop_writes(&self) -> bool {
        self.spec.lifetime_nanos.is_none()
            && self.spec.max_size.is_none()
            && self.spec.key.len() == self.arity
    }

    /// Would writing `tuple` (whose key hashes to `hash`) now change nothing
    /// at all: an identical row, in a table with [`Table::noop_writes`]?
    pub fn write_is_noop(&self, tuple: &[Value], hash: u64) -> bool {
        self.noop_writes()
            && self
                .find_key(tuple, hash)
                .is_some_and(|s| self.same_fields(s, tuple))
    }

    /// Start loading what a lookup of `hash` reads first. Looking up many
    /// keys in passes (prefetch every key's map entry, then every candidate
    /// row, then compare) overlaps their cache misses, which otherwise come
    /// one after another.
    pub fn prefetch_entry(&self, hash: u64) {
        self.primary.prefetch(hash);
    }

    /// Start loading the row a lookup of `hash` will most likely compare
    /// (best after [`Table::prefetch_entry`]).
    pub fn prefetch_row(&self, hash: u64) {
        if let Some(slot) = self.primary.find(hash, |_| true) {
            self.prefetch_slot(slot);
        }
    }

    /// Start loading the fields of the row in `slot`.
    pub fn prefetch_slot(&self, slot: Slot) {
        let start = slot as usize * self.arity;
        if let Some(last) = self.values.get(start + self.arity - 1) {
            prefetch(&self.values[start]);
            prefetch(last);
        }
    }

    /// Merge the lattice columns of `tuple` (whose key hashes to `hash`)
    /// with those of the row stored under its key, if there is one, so that
    /// the insert that follows writes the merged row.
    pub fn merge_into(&self, tuple: &mut [Value], hash: u64) {
        if self.spec.lattices.is_empty() {
            return;
        }
        let Some(slot) = self.find_key(tuple, hash) else {
            return;
        };
        let stored = self.fields(slot);
        for (column, lattice) in &self.spec.lattices {
            tuple[*column] = lattice.merge(&stored[*column], &tuple[*column]);
        }
    }

    /// Does the row in `slot`, whose key matches `tuple`'s, equal `tuple`?
    fn same_fields(&self, slot: Slot, tuple: &[Value]) -> bool {
        // Sets (every field a key field) need no second comparison.
        self.spec.key.len() == self.arity
            || self.fields(slot).iter().zip(tuple).all(|(a, b)| same(a, b))
    }

    /// Can rows expire or be evicted? Only then do they keep a [`Timing`]
    /// and a place in the refresh order.
    fn ordered(&self) -> bool {
        self.spec.lifetime_nanos.is_some() || self.spec.max_size.is_some()
    }

    /// Insert, replace or refresh `tuple`, whose key hashes to `hash`; the
    /// row becomes a delta of `stamp` unless it is a refresh that does not
    /// extend its lifetime. A new or replacing row takes the fields, leaving
    /// nulls (no reference counts to move up and down).
    pub fn insert(&mut self, tuple: &mut [Value], hash: u64, now: Time, stamp: u64) -> Insert {
        debug_assert_eq!(
            tuple.len(),
            self.arity,
            "rows are stored `arity` fields apart"
        );
        let expires = match self.spec.lifetime_nanos {
            Some(l) => now.saturating_add(l),
            None => Time::MAX,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let ordered = self.ordered();
        if let Some(slot) = self.find_key(tuple, hash) {
            let start = slot as usize * self.arity;
            let outcome = if self.same_fields(slot, tuple) {
                // Unordered tables never expire: nothing to extend.
                let extended = ordered && {
                    let timing = &mut self.timing[slot as usize];
                    let extended = expires > timing.expires;
                    timing.expires = timing.expires.max(expires);
                    extended
                };
                Insert::Refreshed { extended }
            } else {
                // The row moves to the end of its index lists, as a removal
                // and an insertion would.
                let old: SmallVec<[u64; 4]> = (0..self.indexes.len())
                    .map(|i| self.index_hash(i, self.fields(slot)))
                    .collect();
                for (i, old) in old.into_iter().enumerate() {
                    self.unindex(i, old, slot);
                    let new = self.index_hash(i, tuple);
                    self.indexes[i].map.entry(new).or_default().push(slot);
                }
                take(&mut self.values[start..start + self.arity], tuple);
                if ordered {
                    self.timing[slot as usize].expires = expires;
                }
                Insert::Replaced {
                    previous_stamp: self.stamps[slot as usize],
                }
            };
            if ordered {
                self.timing[slot as usize].seq = seq;
                self.order.push_back((seq, slot));
            }
            if outcome != (Insert::Refreshed { extended: false }) {
                self.mark_delta(slot, stamp);
            }
            return outcome;
        }
        let slot = self.free.pop().unwrap_or(self.stamps.len() as Slot);
        self.primary.insert(hash, slot);
        for i in 0..self.indexes.len() {
            let h = self.index_hash(i, tuple);
            self.indexes[i].map.entry(h).or_default().push(slot);
        }
        // Stamp 0: `mark_delta` below makes it a delta of `stamp`.
        let timing = Timing { expires, seq };
        if slot as usize == self.stamps.len() {
            let fields = tuple.iter_mut().map(|v| std::mem::replace(v, Value::Null));
            self.values.extend(fields);
            self.stamps.push(0);
            if ordered {
                self.timing.push(timing);
            }
        } else {
            let start = slot as usize * self.arity;
            take(&mut self.values[start..start + self.arity], tuple);
            self.stamps[slot as usize] = 0;
            if ordered {
                self.timing[slot as usize] = timing;
            }
        }
        self.len += 1;
        if ordered {
            self.order.push_back((seq, slot));
        }
        self.mark_delta(slot, stamp);
        Insert::New
    }

    fn mark_delta(&mut self, slot: Slot, stamp: u64) {
        if self.delta_tick != stamp {
            self.deltas.clear();
            self.delta_tick = stamp;
        }
        let current = &mut self.stamps[slot as usize];
        if *current != stamp {
            *current = stamp;
            self.deltas.push(slot);
        }
    }

    fn index_hash(&self, i: usize, tuple: &[Value]) -> u64 {
        hash_columns(self.indexes[i].columns.iter().map(|&c| &tuple[c]))
    }

    fn unindex(&mut self, i: usize, hash: u64, slot: Slot) {
        let map = &mut self.indexes[i].map;
        if let Some(list) = map.get_mut(&hash) {
            if let Some(p) = list.iter().position(|&s| s == slot) {
                list.remove(p);
            }
            if list.is_empty() {
                map.remove(&hash);
            }
        }
    }

    /// The row with `tuple`'s key.
    pub fn get_key(&self, tuple: &[Value]) -> Option<&[Value]> {
        let slot = self.find_key(tuple, self.key_hash(tuple))?;
        Some(self.fields(slot))
    }

    /// Remove the row with `tuple`'s key; returns it.
    pub fn delete_key(&mut self, tuple: &[Value]) -> Option<Tuple> {
        let slot = self.find_key(tuple, self.key_hash(tuple))?;
        Some(self.remove_slot(slot))
    }

    fn remove_slot(&mut self, slot: Slot) -> Tuple {
        let fields = self.fields(slot);
        self.primary.remove(self.key_hash(fields), slot);
        for i in 0..self.indexes.len() {
            let h = self.index_hash(i, self.fields(slot));
            self.unindex(i, h, slot);
        }
        self.stamps[slot as usize] = FREE;
        self.free.push(slot);
        self.len -= 1;
        let start = slot as usize * self.arity;
        self.values[start..start + self.arity]
            .iter_mut()
            .map(|v| std::mem::replace(v, Value::Null))
            .collect()
    }

    /// Is `seq` the latest refresh of the row in `slot` (ordered tables)?
    fn current(&self, slot: Slot, seq: u64) -> bool {
        self.stamps.get(slot as usize).is_some_and(|&s| s != FREE)
            && self.timing[slot as usize].seq == seq
    }

    /// Remove rows whose lifetime is over at `now`, oldest first.
    pub fn expire(&mut self, now: Time, removed: &mut Vec<Tuple>) {
        if self.spec.lifetime_nanos.is_none() {
            return;
        }
        while let Some(&(seq, slot)) = self.order.front() {
            if self.current(slot, seq) {
                if self.timing[slot as usize].expires > now {
                    break;
                }
                self.order.pop_front();
                removed.push(self.remove_slot(slot));
            } else {
                // Stale entry: the row was refreshed, replaced or removed.
                self.order.pop_front();
            }
        }
    }

    /// When the next row expires: the first current entry of the refresh
    /// order (stale entries before it were refreshed, replaced or removed).
    pub fn next_expiry(&self) -> Option<Time> {
        self.spec.lifetime_nanos?;
        self.order
            .iter()
            .find(|&&(seq, slot)| self.current(slot, seq))
            .map(|&(_, slot)| self.timing[slot as usize].expires)
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
            if self.current(slot, seq) {
                removed.push(self.remove_slot(slot));
            }
        }
    }

    /// Drop stale entries from the refresh order when it has grown much
    /// larger than the table (refresh-heavy workloads).
    pub fn compact(&mut self) {
        if self.order.len() > 64 && self.order.len() > 4 * self.len {
            let mut order = std::mem::take(&mut self.order);
            order.retain(|&(seq, slot)| self.current(slot, seq));
            self.order = order;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(key: &[usize]) -> TableSpec {
        TableSpec {
            lifetime_nanos: None,
            max_size: None,
            key: key.to_vec(),
            lattices: Vec::new(),
        }
    }

    fn row(a: i64, b: i64) -> Vec<Value> {
        vec![Value::str("n"), Value::Int(a), Value::Int(b)]
    }

    #[test]
    fn key_map_survives_growth_and_removal() {
        let mut map = KeyMap::default();
        // Few distinct hashes: long runs that wrap around.
        let hash = |s: Slot| u64::from(s % 7) * 0x9e37_79b9 + u64::from(s % 3);
        for s in 0..1000 {
            map.insert(hash(s), s);
        }
        for s in (0..1000).step_by(3) {
            map.remove(hash(s), s);
        }
        for s in 0..1000 {
            let found = map.find(hash(s), |c| c == s);
            assert_eq!(found.is_some(), s % 3 != 0, "slot {s}");
        }
        assert_eq!(map.len, 666);
    }

    #[test]
    fn key_map_agrees_with_a_set() {
        // Random inserts and removals, with hashes from a small range so
        // that runs collide, wrap around the end and shift back.
        let mut map = KeyMap::default();
        let mut model = std::collections::BTreeSet::new();
        let mut state = 2026u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            state >> 33
        };
        let hash = |s: Slot| (u64::from(s) % 61).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let s = (next() % 500) as Slot;
            if model.contains(&s) && next() % 2 == 0 {
                map.remove(hash(s), s);
                model.remove(&s);
            } else if !model.contains(&s) {
                map.insert(hash(s), s);
                model.insert(s);
            }
            let probe = (next() % 500) as Slot;
            let found = map.find(hash(probe), |c| c == probe);
            assert_eq!(found.is_some(), model.contains(&probe));
        }
        assert_eq!(map.len, model.len());
        for s in 0..500 {
            assert_eq!(map.find(hash(s), |c| c == s).is_some(), model.contains(&s));
        }
    }

    fn insert(t: &mut Table, tuple: &[Value], now: Time, stamp: u64) -> Insert {
        t.insert(&mut tuple.to_vec(), t.key_hash(tuple), now, stamp)
    }

    #[test]
    fn insert_replace_refresh_delete() {
        let mut t = Table::new(spec(&[0, 1]), 3, &[vec![2]]);
        assert_eq!(insert(&mut t, &row(1, 2), 0, 1), Insert::New);
        assert_eq!(insert(&mut t, &row(2, 2), 0, 1), Insert::New);
        assert_eq!(
            insert(&mut t, &row(1, 2), 0, 2),
            Insert::Refreshed { extended: false }
        );
        assert_eq!(
            insert(&mut t, &row(1, 3), 0, 2),
            Insert::Replaced { previous_stamp: 1 }
        );
        // The key is narrower than the row: a repeat of the current row
        // may still win a key conflict, so it is never a no-op.
        assert!(!t.write_is_noop(&row(1, 3), t.key_hash(&row(1, 3))));
        let mut whole = Table::new(spec(&[0, 1, 2]), 3, &[]);
        assert_eq!(insert(&mut whole, &row(1, 3), 0, 1), Insert::New);
        assert!(whole.write_is_noop(&row(1, 3), whole.key_hash(&row(1, 3))));
        assert!(!whole.write_is_noop(&row(1, 2), whole.key_hash(&row(1, 2))));
        let h2 = hash_columns([Value::Int(2)].iter());
        assert_eq!(t.index_candidates(0, h2), &[1]);
        let h3 = hash_columns([Value::Int(3)].iter());
        assert_eq!(t.index_candidates(0, h3), &[0]);
        assert_eq!(t.delete_key(&row(2, 9)).as_deref(), Some(&row(2, 2)[..]));
        assert_eq!(t.index_candidates(0, h2), &[] as &[Slot]);
        // The freed slot is reused.
        assert_eq!(insert(&mut t, &row(5, 5), 0, 3), Insert::New);
        let rows: Vec<Vec<Value>> = t.rows().map(|r| r.fields.to_vec()).collect();
        assert_eq!(rows, [row(1, 3), row(5, 5)]);
        assert_eq!(t.deltas(3).count(), 1);
    }

    #[test]
    fn next_expiry_skips_refreshed_rows() {
        let mut t = Table::new(
            TableSpec {
                lifetime_nanos: Some(10),
                ..spec(&[0, 1])
            },
            3,
            &[],
        );
        assert_eq!(t.next_expiry(), None);
        insert(&mut t, &row(1, 1), 0, 1);
        insert(&mut t, &row(2, 2), 3, 1);
        assert_eq!(t.next_expiry(), Some(10));
        // Refreshed: its first entry in the order is stale.
        insert(&mut t, &row(1, 1), 5, 2);
        assert_eq!(t.next_expiry(), Some(13));
        t.delete_key(&row(2, 2));
        assert_eq!(t.next_expiry(), Some(15));
        let mut removed = Vec::new();
        t.expire(15, &mut removed);
        assert_eq!(removed.len(), 1);
        assert_eq!(t.next_expiry(), None);
        let forever = Table::new(spec(&[0, 1]), 3, &[]);
        assert_eq!(forever.next_expiry(), None);
    }
}
