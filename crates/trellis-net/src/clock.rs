//! The wall clock in engine time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use trellis_engine::Time;

/// The wall clock as the engine sees it: nanoseconds since the Unix epoch,
/// read at start and then advanced by a monotonic clock (so the node's time
/// never goes backwards when the system clock is adjusted).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    origin: Time,
    start: Instant,
}

impl WallClock {
    pub fn start() -> WallClock {
        let origin = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as Time);
        WallClock {
            origin,
            start: Instant::now(),
        }
    }

    /// The time the clock was started, in engine time.
    pub fn origin(&self) -> Time {
        self.origin
    }

    pub fn now(&self) -> Time {
        self.origin + self.start.elapsed().as_nanos() as Time
    }

    /// The monotonic instant at which engine time `t` comes.
    pub fn instant_at(&self, t: Time) -> Instant {
        let after = Duration::from_nanos(t.saturating_sub(self.origin));
        // A wake-up centuries away is as good as never.
        self.start
            .checked_add(after)
            .unwrap_or_else(|| self.start + Duration::from_secs(100 * 365 * 86_400))
    }
}
