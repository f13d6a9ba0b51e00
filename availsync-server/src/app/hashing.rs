//! Password hashing behind a bounded pool. Each argon2 hash takes about
//! 19 MiB and a core for a few tens of milliseconds; run without a bound,
//! 128 parallel logins took 2.4 GB. At most [`HashingPool`]'s size run at
//! once; a request that cannot get a place within a short wait is refused
//! ([`AppError::Busy`], answered `503` with `Retry-After`; SPEC §5).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::AppError;

/// How long a request waits for a place before it is answered `503`.
const WAIT_FOR_A_PLACE: Duration = Duration::from_secs(2);

/// The pool of places where passwords are hashed.
#[derive(Debug, Clone)]
pub struct HashingPool {
    places: Arc<Semaphore>,
}

impl HashingPool {
    /// A pool of `size` places (at least one).
    pub fn new(size: usize) -> Self {
        Self {
            places: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    /// Two places per core: hashing keeps a core busy, so more would only
    /// queue inside the blocking pool while holding their memory.
    pub fn default_size() -> usize {
        std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
    }

    /// Runs `work` (CPU-heavy) on a blocking thread once a place is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let place =
            tokio::time::timeout(WAIT_FOR_A_PLACE, Arc::clone(&self.places).acquire_owned())
                .await
                .ok()
                .and_then(Result::ok)
                .ok_or(AppError::Busy)?;
        tokio::task::spawn_blocking(move || {
            let _place = place;
            work()
        })
        .await
        .map_err(|e| AppError::Hashing(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_answers_503_with_retry_after_instead_of_queueing_forever() {
        let pool = HashingPool::new(1);
        let (started, release) = (
            Arc::new(tokio::sync::Notify::new()),
            Arc::new(std::sync::Barrier::new(2)),
        );
        let busy = {
            let (pool, started, release) =
                (pool.clone(), Arc::clone(&started), Arc::clone(&release));
            tokio::spawn(async move {
                pool.run(move || {
                    started.notify_one();
                    release.wait();
                })
                .await
            })
        };
        started.notified().await;
        let refused = pool.run(|| ()).await.unwrap_err();
        assert!(matches!(refused, AppError::Busy), "{refused:?}");
        release.wait();
        busy.await.unwrap().unwrap();
        pool.run(|| ()).await.unwrap();
    }
}
