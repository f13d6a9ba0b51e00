//! Whether writes are failing for lack of space. A full disk fails every
//! write while reads still work, so a health check that only reads would
//! say "ok" while every claim is refused. Both stores pass each write's
//! outcome here; while writes are failing, the health check tries a small
//! write of its own (the probe), so that it recovers as soon as space is
//! freed, without waiting for a client's write.

use crate::store::StoreResult;
use std::sync::Mutex;

use super::StoreError;

/// The last write's verdict on the storage.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failing: Mutex<Option<String>>,
}

impl WriteHealth {
    /// Notes a write's outcome: a full storage marks writes as failing, a
    /// success clears that; other errors say nothing about space.
    pub fn observe<T>(&self, outcome: &StoreResult<T>) {
        match outcome {
            Ok(_) => {
                let mut failing = self.lock();
                if failing.take().is_some() {
                    tracing::info!("writes succeed again: the storage has room");
                }
            }
            Err(StoreError::StorageFull(why)) => *self.lock() = Some(why.clone()),
            Err(_) => {}
        }
    }

    /// Why writes are failing, while they are.
    pub fn failing(&self) -> Option<String> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.failing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_storage_marks_writes_failing_until_one_succeeds() {
        let health = WriteHealth::default();
        health.observe::<()>(&Err(StoreError::Backend("other".into())));
        assert_eq!(health.failing(), None);
        health.observe::<()>(&Err(StoreError::StorageFull("disk full".into())));
        assert_eq!(health.failing().as_deref(), Some("disk full"));
        health.observe(&Ok(()));
        assert_eq!(health.failing(), None);
    }
}
