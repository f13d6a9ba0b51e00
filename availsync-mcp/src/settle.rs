//! Calls whose answer never arrived in time. A `start_run` cut off by the
//! call deadline may still be granted once the server catches up, and then
//! nobody would hold the claim for a whole TTL; a `finish_run` cut off may
//! never have reached the server. Each is settled in the background as
//! soon as the server answers again: the start's run (same `run_id`) is
//! finished as `cancelled`, the finish is sent again with its outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use availsync_sdk::{Client, Outcome, StartRun};
use futures::future::join_all;
use tokio::task::JoinHandle;

/// First wait before trying again; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between tries.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What is left to settle of one run.
#[derive(Debug, Clone)]
enum Unanswered {
    /// A start: finish its run as cancelled, creating it first (a replay
    /// with the same run_id) if the start never reached the server.
    Start(StartRun),
    /// A finish: send it again.
    Finish {
        outcome: Outcome,
        summary: Option<String>,
    },
}

struct Pending {
    resource: String,
    task: JoinHandle<()>,
}

/// The registry of unsettled calls. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Settler {
    client: Client,
    pending: Arc<Mutex<HashMap<String, Pending>>>,
}

impl std::fmt::Debug for Settler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settler")
            .field("pending", &self.lock().len())
            .finish()
    }
}

impl Settler {
    /// Settles calls through `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            pending: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `start` timed out: once the server answers, its run is finished as
    /// cancelled.
    pub fn unanswered_start(&self, start: StartRun) {
        let run_id = start.run_id_value().to_owned();
        let resource = start.resource().to_string();
        self.spawn(run_id, resource, Unanswered::Start(start));
    }

    /// A finish of `run_id` on `resource` timed out: it is sent again until
    /// the server answers.
    pub fn unanswered_finish(
        &self,
        run_id: &str,
        resource: &str,
        outcome: Outcome,
        summary: Option<String>,
    ) {
        self.spawn(
            run_id.to_owned(),
            resource.to_owned(),
            Unanswered::Finish { outcome, summary },
        );
    }

    /// Runs still being settled on `resource` (their claims may hold it).
    pub fn pending_on(&self, resource: &str) -> Vec<String> {
        self.lock()
            .iter()
            .filter(|(_, p)| p.resource == resource)
            .map(|(run_id, _)| run_id.clone())
            .collect()
    }

    /// Waits up to `within` for the runs on `resource` to be settled.
    pub async fn wait_for(&self, resource: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while !self.pending_on(resource).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn spawn(&self, run_id: String, resource: String, what: Unanswered) {
        let settler = self.clone();
        let id = run_id.clone();
        // Holding the lock while spawning: the task removes its own entry,
        // and must not find it missing.
        let mut pending = self.lock();
        let task = tokio::spawn(async move {
            settler.settle(&id, what).await;
            settler.lock().remove(&id);
        });
        if let Some(previous) = pending.insert(run_id, Pending { resource, task }) {
            previous.task.abort();
        }
    }

    /// Tries until the server has settled the run, or refuses for good.
    async fn settle(&self, run_id: &str, what: Unanswered) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.attempt(run_id, &what).await {
                Ok(()) => return,
                Err(Retry::Later(reason)) => {
                    tracing::debug!(%run_id, %reason, "server not answering yet; settling later");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(Retry::Never(reason)) => {
                    tracing::warn!(%run_id, %reason, "cannot settle the run; a lease it may hold lapses at its TTL");
                    return;
                }
            }
        }
    }

    /// One try: `Ok` once the run is finished.
    async fn attempt(&self, run_id: &str, what: &Unanswered) -> Result<(), Retry> {
        let (outcome, summary) = match what {
            Unanswered::Start(_) => (
                Outcome::Cancelled,
                Some("availsync-mcp: the answer to start_run did not arrive in time".to_owned()),
            ),
            Unanswered::Finish { outcome, summary } => (*outcome, summary.clone()),
        };
        match self
            .client
            .finish_run(run_id, outcome, summary.as_deref())
            .await
        {
            Ok(answer) => {
                tracing::info!(%run_id, outcome = %answer.outcome, released = answer.released, "settled a run whose answer never arrived");
                Ok(())
            }
            // The start has not reached the server (or not yet): replaying
            // it with the same run_id makes the run exist exactly once,
            // whichever copy arrives first; the next try finishes it.
            Err(e) if e.is_not_found() => match what {
                Unanswered::Start(start) => match self.client.start_run(start).await {
                    Ok(_) => Err(Retry::Later(
                        "the start is replayed; finishing it next".into(),
                    )),
                    Err(e) => Err(Retry::classify(&e)),
                },
                Unanswered::Finish { .. } => Err(Retry::Never(e.to_string())),
            },
            Err(e) => Err(Retry::classify(&e)),
        }
    }

    /// Stops settling in the background and gives every unsettled run one
    /// last try, all at once, for at most `within`.
    pub async fn shutdown(&self, within: Duration) {
        let drained: Vec<String> = self
            .lock()
            .drain()
            .map(|(run_id, pending)| {
                pending.task.abort();
                run_id
            })
            .collect();
        if drained.is_empty() {
            return;
        }
        let tries = join_all(drained.iter().map(|run_id| async move {
            let finish = self.client.finish_run(
                run_id,
                Outcome::Cancelled,
                Some("availsync-mcp shut down"),
            );
            if let Err(e) = finish.await {
                tracing::warn!(%run_id, error = %e, "could not settle the run on shutdown; a lease it may hold lapses at its TTL");
            }
        }));
        let _ = tokio::time::timeout(within, tries).await;
    }
}

/// Why a try did not settle the run.
enum Retry {
    /// The server is unreachable or failing: try again.
    Later(String),
    /// The server refused (a revoked key, say): trying again cannot help.
    Never(String),
}

impl Retry {
    fn classify(e: &availsync_sdk::Error) -> Self {
        if e.is_retryable() || (e.api().is_none() && !e.is_tls_failure()) {
            Self::Later(e.to_string())
        } else {
            Self::Never(e.to_string())
        }
    }
}
