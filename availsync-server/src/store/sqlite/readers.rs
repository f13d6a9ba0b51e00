//! A few reader threads, each with its own read-only connection. In WAL mode
//! they read committed state while the writer works, so reads never queue
//! behind writes.

use crate::store::StoreResult;
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::store::StoreError;

type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Handle to the reader threads.
#[derive(Clone)]
pub(super) struct Readers {
    jobs: mpsc::Sender<ReadJob>,
}

impl Readers {
    /// Starts one thread per connection.
    pub(super) fn start(conns: Vec<Connection>) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<ReadJob>();
        let queue = Arc::new(Mutex::new(queue));
        for (i, conn) in conns.into_iter().enumerate() {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("availsync-sqlite-reader-{i}"))
                .spawn(move || {
                    loop {
                        // Hold the lock only to take one job.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(&conn),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `job` on a reader connection.
    pub(super) async fn read<T, F>(&self, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(conn)))
                .unwrap_or_else(|_| Err(StoreError::Backend("a read job panicked".into())));
            let _ = reply.send(outcome);
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Backend("the reader threads have stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("a reader thread dropped a job".into()))?
    }
}
