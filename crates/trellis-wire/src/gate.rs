//! What a receiver lets through of the authenticated frames it decodes:
//! frames for one of its names, each at most once. Per stream (sender,
//! transport, and the name it sends to: a sender numbers its frames per
//! destination name) it keeps the latest epoch and a sliding window of the
//! sequence numbers seen (as IPsec and DTLS do): a frame of an older epoch, a sequence
//! number already seen, or one more than [`WINDOW`] behind the highest
//! seen is refused; frames reordered within the window are taken.

use std::collections::HashMap;
use std::sync::Arc;

use crate::{Envelope, Refused, Session};

/// Sequence numbers a stream's window spans: a frame may arrive this many
/// frames late (reordered by the network) and still be taken.
pub const WINDOW: u64 = 1024;
/// Senders (and streams) a gate tracks unless told otherwise.
pub const DEFAULT_SENDERS: usize = 4096;

const WORDS: usize = (WINDOW / 64) as usize;

/// Why a frame was refused as a replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Replay {
    #[error("the frame is from an earlier epoch of its sender (epoch {epoch}, now {current})")]
    StaleEpoch { epoch: u64, current: u64 },
    #[error("frame {sequence} of its sender's stream was already taken")]
    Duplicate { sequence: u64 },
    #[error("frame {sequence} is more than {WINDOW} frames behind its sender's stream ({top})")]
    TooOld { sequence: u64, top: u64 },
}

impl Replay {
    /// The name the refusal is counted under.
    pub fn kind(&self) -> &'static str {
        match self {
            Replay::StaleEpoch { .. } => "stale_epoch",
            Replay::Duplicate { .. } => "replayed",
            Replay::TooOld { .. } => "too_old",
        }
    }
}

impl Refused {
    /// The name the refusal is counted under.
    pub fn kind(&self) -> &'static str {
        match self {
            Refused::Misdirected { .. } => "misdirected",
            Refused::Replay(r) => r.kind(),
        }
    }
}

/// One sender's stream, as seen here.
#[derive(Debug, Clone)]
struct Window {
    epoch: u64,
    /// The highest sequence number taken.
    top: u64,
    /// Bit `s % WINDOW`: sequence number `s` (within the window) was taken.
    seen: [u64; WORDS],
    /// When this stream was last heard from (the gate's frame count), to
    /// forget the stalest one when full.
    heard: u64,
}

impl Window {
    fn new(s: &Session, heard: u64) -> Window {
        let mut w = Window {
            epoch: s.epoch,
            top: s.sequence,
            seen: [0; WORDS],
            heard,
        };
        w.mark(s.sequence);
        w
    }

    fn mark(&mut self, sequence: u64) {
        let bit = sequence % WINDOW;
        self.seen[(bit / 64) as usize] |= 1 << (bit % 64);
    }

    fn marked(&self, sequence: u64) -> bool {
        let bit = sequence % WINDOW;
        self.seen[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    fn unmark(&mut self, sequence: u64) {
        let bit = sequence % WINDOW;
        self.seen[(bit / 64) as usize] &= !(1 << (bit % 64));
    }

    fn admit(&mut self, s: &Session, heard: u64) -> Result<(), Replay> {
        if s.epoch < self.epoch {
            return Err(Replay::StaleEpoch {
                epoch: s.epoch,
                current: self.epoch,
            });
        }
        if s.epoch > self.epoch {
            // The sender started this stream afresh (it restarted, or had
            // forgotten it): a new window.
            *self = Window::new(s, heard);
            return Ok(());
        }
        if s.sequence > self.top {
            let gap = s.sequence - self.top;
            if gap >= WINDOW {
                self.seen = [0; WORDS];
            } else {
                // The numbers the window slides past become the slots of
                // the new ones: nothing seen yet.
                for n in self.top + 1..=s.sequence {
                    self.unmark(n);
                }
            }
            self.top = s.sequence;
        } else if self.top - s.sequence >= WINDOW {
            return Err(Replay::TooOld {
                sequence: s.sequence,
                top: self.top,
            });
        } else if self.marked(s.sequence) {
            return Err(Replay::Duplicate {
                sequence: s.sequence,
            });
        }
        self.mark(s.sequence);
        self.heard = heard;
        Ok(())
    }
}

/// A receiver's check on authenticated frames: for one of its names, and
/// new. Bounded: it tracks at most `senders` streams, forgetting the one
/// heard from longest ago to make room (a forgotten stream's next frame
/// starts its window again, so a recording of that stream's recent frames
/// could be taken once more: make the bound larger than the cluster).
#[derive(Debug)]
pub struct Gate {
    names: Vec<Arc<str>>,
    /// By sender, stream number and destination name.
    streams: HashMap<(Arc<str>, u8, Arc<str>), Window>,
    senders: usize,
    /// Frames admitted, as a clock for "heard from longest ago".
    frames: u64,
}

impl Gate {
    /// A gate for a node that answers to `names`, tracking at most
    /// `senders` streams (at least one).
    pub fn new(names: impl IntoIterator<Item = Arc<str>>, senders: usize) -> Gate {
        Gate {
            names: names.into_iter().collect(),
            streams: HashMap::new(),
            senders: senders.max(1),
            frames: 0,
        }
    }

    /// Whether the frame may be taken; if so, it is remembered as taken.
    /// A frame without a session (no cluster key) is not checked: without
    /// a key there is no replay protection.
    pub fn admit(&mut self, envelope: &Envelope) -> Result<(), Refused> {
        let Some(s) = &envelope.session else {
            return Ok(());
        };
        if !self.names.iter().any(|n| **n == *s.destination) {
            return Err(Refused::Misdirected {
                destination: s.destination.clone(),
            });
        }
        self.frames += 1;
        let heard = self.frames;
        let key = (envelope.sender.clone(), s.stream, s.destination.clone());
        if let Some(w) = self.streams.get_mut(&key) {
            return Ok(w.admit(s, heard)?);
        }
        if self.streams.len() >= self.senders {
            self.forget_stalest();
        }
        self.streams.insert(key, Window::new(s, heard));
        Ok(())
    }

    /// Streams tracked now.
    pub fn tracked(&self) -> usize {
        self.streams.len()
    }

    fn forget_stalest(&mut self) {
        let stalest = self
            .streams
            .iter()
            .min_by_key(|(_, w)| w.heard)
            .map(|(k, _)| k.clone());
        if let Some(k) = stalest {
            self.streams.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(sender: &str, destination: &str, epoch: u64, sequence: u64) -> Envelope {
        Envelope {
            sender: Arc::from(sender),
            session: Some(Session {
                destination: Arc::from(destination),
                stream: 0,
                epoch,
                sequence,
            }),
        }
    }

    fn gate() -> Gate {
        Gate::new([Arc::from("me:1"), Arc::from("alias:1")], 8)
    }

    #[test]
    fn a_frame_is_taken_once() {
        let mut g = gate();
        let e = envelope("a:1", "me:1", 5, 0);
        assert_eq!(g.admit(&e), Ok(()));
        for _ in 0..100 {
            assert_eq!(
                g.admit(&e),
                Err(Refused::Replay(Replay::Duplicate { sequence: 0 }))
            );
        }
        // The other name is this node too; a third is not.
        assert_eq!(g.admit(&envelope("a:1", "alias:1", 5, 1)), Ok(()));
        assert_eq!(
            g.admit(&envelope("a:1", "other:1", 5, 2))
                .map_err(|e| e.kind()),
            Err("misdirected")
        );
    }

    #[test]
    fn frames_reordered_within_the_window_are_taken() {
        let mut g = gate();
        let order = [3, 0, 2, 1, WINDOW + 2, 5, 4];
        for s in order {
            assert_eq!(g.admit(&envelope("a:1", "me:1", 1, s)), Ok(()), "{s}");
        }
        // 2 and 3 are now more than a window behind WINDOW + 2.
        assert_eq!(
            g.admit(&envelope("a:1", "me:1", 1, 2))
                .map_err(|e| e.kind()),
            Err("too_old")
        );
        assert_eq!(
            g.admit(&envelope("a:1", "me:1", 1, 5))
                .map_err(|e| e.kind()),
            Err("replayed")
        );
        // A slot the window slid past is free for its new number.
        assert_eq!(g.admit(&envelope("a:1", "me:1", 1, WINDOW + 1)), Ok(()));
        assert_eq!(
            g.admit(&envelope("a:1", "me:1", 1, WINDOW + 1))
                .map_err(|e| e.kind()),
            Err("replayed")
        );
    }

    #[test]
    fn a_new_epoch_starts_afresh_and_old_epochs_are_refused() {
        let mut g = gate();
        for s in 0..10 {
            assert_eq!(g.admit(&envelope("a:1", "me:1", 7, s)), Ok(()));
        }
        // The sender restarted: a larger epoch, numbers from 0 again.
        assert_eq!(g.admit(&envelope("a:1", "me:1", 9, 0)), Ok(()));
        assert_eq!(
            g.admit(&envelope("a:1", "me:1", 7, 10))
                .map_err(|e| e.kind()),
            Err("stale_epoch")
        );
        // Streams of other senders, and other streams, are apart.
        assert_eq!(g.admit(&envelope("b:1", "me:1", 1, 0)), Ok(()));
        let mut tcp = envelope("a:1", "me:1", 9, 0);
        tcp.session.as_mut().expect("a session").stream = 1;
        assert_eq!(g.admit(&tcp), Ok(()));
        // So is a's stream to this node's other name (a numbers its frames
        // per name, from an epoch of its own), and a frame of it is still
        // taken once.
        assert_eq!(g.admit(&envelope("a:1", "alias:1", 3, 0)), Ok(()));
        assert_eq!(g.admit(&envelope("a:1", "me:1", 9, 1)), Ok(()));
        assert_eq!(
            g.admit(&envelope("a:1", "alias:1", 3, 0))
                .map_err(|e| e.kind()),
            Err("replayed")
        );
    }

    #[test]
    fn the_stream_heard_from_longest_ago_is_forgotten_when_full() {
        let mut g = gate();
        for i in 0..8 {
            assert_eq!(g.admit(&envelope(&format!("n{i}:1"), "me:1", 1, 0)), Ok(()));
        }
        // n0 speaks again: n1 is now the stalest.
        assert_eq!(g.admit(&envelope("n0:1", "me:1", 1, 1)), Ok(()));
        assert_eq!(g.admit(&envelope("n8:1", "me:1", 1, 0)), Ok(()));
        assert_eq!(g.tracked(), 8);
        assert!(g.admit(&envelope("n0:1", "me:1", 1, 1)).is_err());
        // n1 was forgotten: its window starts again.
        assert_eq!(g.admit(&envelope("n1:1", "me:1", 1, 0)), Ok(()));
    }

    #[test]
    fn frames_without_a_session_are_not_checked() {
        let mut g = gate();
        let plain = Envelope {
            sender: Arc::from("a:1"),
            session: None,
        };
        assert_eq!(g.admit(&plain), Ok(()));
        assert_eq!(g.admit(&plain), Ok(()));
    }
}
