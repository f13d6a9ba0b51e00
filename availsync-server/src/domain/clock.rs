//! The server's clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use availsync_types::Timestamp;

/// The clock every decision is made with.
///
/// It never goes backwards, even when the system clock is stepped back, so a
/// lease that has been seen to lapse never comes back to life. Clones share
/// one clock.
///
/// ```
/// use availsync_server::Clock;
/// use std::time::Duration;
///
/// let clock = Clock::system();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(60));
/// assert!(clock.now().unix_millis() >= before.unix_millis() + 60_000);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Clock {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    offset_ms: AtomicI64,
    last_ms: AtomicI64,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// The current time (never earlier than any time this clock returned).
    pub fn now(&self) -> Timestamp {
        let wall = Timestamp::now().unix_millis() + self.inner.offset_ms.load(Ordering::Relaxed);
        let previous = self.inner.last_ms.fetch_max(wall, Ordering::AcqRel);
        Timestamp::from_unix_millis(wall.max(previous))
    }

    /// This clock's reading when another time source (a database's clock,
    /// shared by several replicas) says `base`: shifted by this clock's
    /// offset, and never earlier than any time this clock returned.
    pub fn at(&self, base: Timestamp) -> Timestamp {
        let shifted = base.unix_millis() + self.inner.offset_ms.load(Ordering::Relaxed);
        let previous = self.inner.last_ms.fetch_max(shifted, Ordering::AcqRel);
        Timestamp::from_unix_millis(shifted.max(previous))
    }

    /// Moves this clock forward by `by`. Meant for tests that need leases to
    /// lapse without waiting for them.
    pub fn advance(&self, by: Duration) {
        let millis = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.inner.offset_ms.fetch_add(millis, Ordering::AcqRel);
    }
}
