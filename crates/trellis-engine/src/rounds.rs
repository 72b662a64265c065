//! The semi-naive bookkeeping of a tick, owned by one type (as datafrog's
//! `Variable` owns its to-add / recent / stable lifecycle). Each event of
//! the tick carries the *round* of its stratum's fixpoint that derived it
//! (inputs and timers are round 0). In a stratum's first round every event
//! seen so far is new and table deltas trigger strands; in each later
//! round only the previous round's events are new, and the events before
//! them are old. A round's number is not a table row's *stamp*, which is
//! the tick that wrote the row.

use rustc_hash::FxHashSet;

use crate::Tuple;

/// A fixpoint round's number within a tick.
pub(crate) type Round = u32;

/// What the strands of one round see.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Events of rounds up to this are old; `None` in a stratum's first
    /// round, where none are.
    pub old: Option<Round>,
    /// Events of rounds up to this are visible.
    pub seen: Round,
}

impl Window {
    /// The first round of a stratum: table deltas trigger, aggregates fold.
    pub fn is_first(self) -> bool {
        self.old.is_none()
    }
}

/// The rounds of one tick, across its strata.
#[derive(Debug)]
pub(crate) struct Rounds {
    /// The latest round any event was added in.
    last: Round,
    window: Window,
}

impl Rounds {
    /// A tick starts: its inputs and timers are round 0.
    pub fn new() -> Rounds {
        Rounds {
            last: 0,
            window: Window { old: None, seen: 0 },
        }
    }

    pub fn window(&self) -> Window {
        self.window
    }

    /// A stratum starts: its first round sees every event so far as new.
    pub fn begin_stratum(&mut self) {
        self.window = Window {
            old: None,
            seen: self.last,
        };
    }

    /// The round the events derived in this round belong to.
    pub fn next(&self) -> Round {
        self.last + 1
    }

    /// This round's events are in: the next round sees them as new and
    /// everything before them as old.
    pub fn advance(&mut self) {
        self.last += 1;
        self.window = Window {
            old: Some(self.window.seen),
            seen: self.last,
        };
    }
}

/// The events of one relation in the current tick: a set, in the order
/// they were derived, each with its round.
#[derive(Debug, Default)]
pub(crate) struct EventSet {
    pub tuples: Vec<(Tuple, Round)>,
    pub seen: FxHashSet<Tuple>,
}

impl EventSet {
    /// Add an event of `round`; false if the tick already has it.
    pub fn add(&mut self, tuple: Tuple, round: Round) -> bool {
        if self.seen.insert(tuple.clone()) {
            self.tuples.push((tuple, round));
            true
        } else {
            false
        }
    }

    /// The events new in `window`.
    pub fn new_in(&self, window: Window) -> &[(Tuple, Round)] {
        self.between(window.old, window.seen)
    }

    /// The events old in `window` (none in a first round).
    pub fn old_in(&self, window: Window) -> &[(Tuple, Round)] {
        match window.old {
            Some(old) => self.between(None, old),
            None => &[],
        }
    }

    /// Every event visible in `window`.
    pub fn seen_in(&self, window: Window) -> &[(Tuple, Round)] {
        self.between(None, window.seen)
    }

    /// Events of rounds `lo < round <= hi` (`lo = None`: from the start).
    fn between(&self, lo: Option<Round>, hi: Round) -> &[(Tuple, Round)] {
        let start = lo.map_or(0, |lo| self.tuples.partition_point(|(_, r)| *r <= lo));
        let end = self.tuples.partition_point(|(_, r)| *r <= hi);
        &self.tuples[start..end.max(start)]
    }

    /// The tick is over.
    pub fn clear(&mut self) {
        self.tuples.clear();
        self.seen.clear();
    }
}
