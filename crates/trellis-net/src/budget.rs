//! A byte budget shared by a node's socket tasks: what they may hold at
//! once of one kind (frames being read, decoded frames waiting for the
//! node). A task takes its share before it allocates, and waits when the
//! budget is spent, so a flood of peers slows down instead of growing the
//! node's memory.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Permits are KiB, so a budget of terabytes still counts in `u32`.
const UNIT: usize = 1024;

#[derive(Debug, Clone)]
pub(crate) struct Budget(Arc<Semaphore>);

/// A share of a [`Budget`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Share(OwnedSemaphorePermit);

fn units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(UNIT)).unwrap_or(u32::MAX)
}

impl Budget {
    pub fn new(bytes: usize) -> Budget {
        let permits = (units(bytes) as usize).min(Semaphore::MAX_PERMITS);
        Budget(Arc::new(Semaphore::new(permits)))
    }

    /// `bytes` of the budget if they are free now.
    pub fn try_take(&self, bytes: usize) -> Option<Share> {
        self.0
            .clone()
            .try_acquire_many_owned(units(bytes))
            .ok()
            .map(Share)
    }

    /// `bytes` of the budget, waiting until they are free (in turn: the
    /// semaphore is fair). The limits' check makes every share a task asks
    /// for fit the whole budget.
    pub async fn take(&self, bytes: usize) -> Share {
        let permit = self
            .0
            .clone()
            .acquire_many_owned(units(bytes))
            .await
            .expect("a budget is never closed");
        Share(permit)
    }
}

impl Share {
    /// Give back all but `bytes` of the share.
    pub fn shrink_to(&mut self, bytes: usize) {
        let keep = units(bytes).min(self.0.num_permits() as u32);
        if let Some(kept) = self.0.split(keep as usize) {
            // `split` leaves the rest in `self.0`, dropped here.
            let _rest = std::mem::replace(&mut self.0, kept);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shares_come_back_when_dropped_or_shrunk() {
        let budget = Budget::new(10 * UNIT);
        let mut a = budget.take(8 * UNIT).await;
        assert!(budget.try_take(4 * UNIT).is_none());
        a.shrink_to(UNIT + 1);
        let b = budget.try_take(8 * UNIT).expect("6 KiB came back");
        assert!(budget.try_take(UNIT).is_none());
        drop(a);
        drop(b);
        assert!(budget.try_take(10 * UNIT).is_some());
    }
}
