//! The leases this process holds: one SDK [`RunGuard`] per granted run,
//! kept alive in the background until `finish_run`, the maximum run time or
//! shutdown, whichever comes first; and the leases it lost meanwhile, which
//! the model hears of on its next tool call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use availsync_sdk::types::{ClaimedResource, UpdateWorkingSetResponse, WorkingSet};
use availsync_sdk::{LeaseState, LossReason, Outcome, PathsChange, RunGuard, Timestamp};
use futures::future::join_all;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A lease this process keeps alive, as seen from outside the registry.
#[derive(Debug, Clone)]
pub struct HeldLease {
    /// The run.
    pub run_id: String,
    /// The claimed resource.
    pub resource: String,
    /// The claim's id.
    pub claim_id: String,
    /// The lease length in seconds.
    pub ttl_seconds: u32,
    /// The fencing token of the claim.
    pub fencing_token: u64,
    /// When the lease lapses unless extended again (as last told by the
    /// server).
    pub expires_at: Timestamp,
    /// Held, uncertain (extends failing) or lost.
    pub state: LeaseState,
    /// When this process stops keeping it alive (the maximum run time).
    pub kept_until: Timestamp,
    /// The paths held now, for a claim on part of a repository (`None`:
    /// the whole resource).
    pub working_set: Option<WorkingSet>,
    /// Every resource the claim holds, the first requested one first.
    pub resources: Vec<ClaimedResource>,
}

impl HeldLease {
    fn of(guard: &RunGuard, kept_until: Timestamp) -> Self {
        Self {
            run_id: guard.run_id().to_owned(),
            resource: guard.resource().to_string(),
            claim_id: guard.claim().claim_id.clone(),
            ttl_seconds: guard.claim().ttl_seconds,
            fencing_token: guard.fencing_token(),
            expires_at: guard.expires_at(),
            state: guard.state(),
            kept_until,
            working_set: guard.working_set(),
            resources: guard.fencing_tokens(),
        }
    }

    /// True when the claim holds `resource` (the one it names or one of
    /// several).
    pub fn holds(&self, resource: &str) -> bool {
        self.resources.iter().any(|held| held.resource == resource)
    }

    /// True unless the lease is known to be lost.
    pub fn is_held(&self) -> bool {
        !matches!(self.state, LeaseState::Lost(_))
    }
}

/// Why a lease this session took is gone before `finish_run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostCause {
    /// The server no longer grants it: it lapsed there, or a person
    /// released it.
    Revoked,
    /// No extend got through before it would lapse (the server was
    /// unreachable or did not answer).
    Lapsed,
    /// This process gave it back: the maximum run time passed without
    /// `finish_run`.
    MaxRunTime(Duration),
}

impl LostCause {
    fn of(state: &LeaseState, max_run_time: Duration) -> Self {
        match state {
            LeaseState::Lost(LossReason::Revoked) => Self::Revoked,
            LeaseState::Lost(_) => Self::Lapsed,
            _ => Self::MaxRunTime(max_run_time),
        }
    }
}

/// A lease this session lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostLease {
    /// The run.
    pub run_id: String,
    /// The resource it no longer holds.
    pub resource: String,
    /// Why.
    pub cause: LostCause,
}

/// The process is shutting down and took no new lease: the run was
/// finished as cancelled at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShuttingDown;

/// How a shutdown went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Runs finished as cancelled.
    pub finished: usize,
    /// Runs whose finish failed or did not complete in time; their leases
    /// lapse at their TTL.
    pub unfinished: usize,
}

struct Entry {
    guard: RunGuard,
    kept_until: Timestamp,
    watcher: JoinHandle<()>,
}

/// A lost lease, and whether the model has been told.
struct Loss {
    lease: LostLease,
    told: bool,
}

struct Inner {
    entries: Mutex<HashMap<String, Entry>>,
    /// Lost leases in the order they were lost, until `finish_run` of the
    /// run takes them out.
    lost: Mutex<Vec<Loss>>,
    closed: Mutex<bool>,
    max_run_time: Duration,
}

impl Inner {
    fn record_loss(&self, lease: LostLease) {
        let mut lost = lock(&self.lost);
        if !lost.iter().any(|l| l.lease.run_id == lease.run_id) {
            lost.push(Loss { lease, told: false });
        }
    }
}

/// The registry of held leases. Cheap to clone; clones share the registry.
#[derive(Clone)]
pub struct Leases {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Leases {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leases")
            .field("held", &self.entries().len())
            .field("max_run_time", &self.inner.max_run_time)
            .finish()
    }
}

/// Locks a mutex, carrying on with the data if a holder panicked (every
/// critical section here leaves the map consistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Leases {
    /// An empty registry whose leases are kept alive for at most
    /// `max_run_time` each.
    pub fn new(max_run_time: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                entries: Mutex::new(HashMap::new()),
                lost: Mutex::new(Vec::new()),
                closed: Mutex::new(false),
                max_run_time,
            }),
        }
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        lock(&self.inner.entries)
    }

    /// Keeps `guard`'s lease alive until it is taken back, its maximum run
    /// time passes or the registry shuts down. After shutdown began, the
    /// run is finished as cancelled at once instead.
    pub async fn keep(&self, guard: RunGuard) -> Result<HeldLease, ShuttingDown> {
        let kept_until = Timestamp::now()
            .add_millis(i64::try_from(self.inner.max_run_time.as_millis()).unwrap_or(i64::MAX));
        let guard = {
            let closed = lock(&self.inner.closed);
            if !*closed {
                let held = HeldLease::of(&guard, kept_until);
                let watcher = tokio::spawn(watch(
                    Arc::downgrade(&self.inner),
                    guard.run_id().to_owned(),
                    guard.resource().to_string(),
                    guard.cancellation_token(),
                ));
                let entry = Entry {
                    guard,
                    kept_until,
                    watcher,
                };
                if let Some(previous) = self.entries().insert(held.run_id.clone(), entry) {
                    // Cannot happen: start_run never claims a run this
                    // registry holds. Were it to, dropping the older guard
                    // finishes the run, so the newer guard learns at its
                    // next extend that the lease is lost: never two holders.
                    previous.watcher.abort();
                }
                return Ok(held);
            }
            guard
        };
        let run_id = guard.run_id().to_owned();
        if let Err(e) = guard
            .finish_with_summary(Outcome::Cancelled, "availsync-mcp was shutting down")
            .await
        {
            tracing::warn!(%run_id, error = %e, "could not finish a run granted during shutdown; its lease will lapse");
        }
        Err(ShuttingDown)
    }

    /// The lease of `run_id`, if this process keeps it.
    pub fn get(&self, run_id: &str) -> Option<HeldLease> {
        self.entries()
            .get(run_id)
            .map(|e| HeldLease::of(&e.guard, e.kept_until))
    }

    /// Every lease this process keeps.
    pub fn all(&self) -> Vec<HeldLease> {
        self.entries()
            .values()
            .map(|e| HeldLease::of(&e.guard, e.kept_until))
            .collect()
    }

    /// Changes the paths of `run_id`'s working-set claim through its guard
    /// (so the guard keeps extending the claim with the new paths); `None`
    /// when this process does not keep that run. The registry is not
    /// locked while the change is in flight.
    pub fn change_paths(
        &self,
        run_id: &str,
        change: PathsChange,
    ) -> Option<impl Future<Output = availsync_sdk::Result<UpdateWorkingSetResponse>> + use<>> {
        self.entries()
            .get(run_id)
            .map(|entry| entry.guard.change_paths(change))
    }

    /// Takes `run_id`'s guard out of the registry (to finish it); its
    /// lease is then no longer kept alive by the registry.
    pub fn take(&self, run_id: &str) -> Option<RunGuard> {
        let entry = self.entries().remove(run_id)?;
        entry.watcher.abort();
        Some(entry.guard)
    }

    /// Leases lost since the last call, each answered once: the news the
    /// next tool answer starts with.
    pub fn news(&self) -> Vec<LostLease> {
        lock(&self.inner.lost)
            .iter_mut()
            .filter(|l| !l.told)
            .map(|l| {
                l.told = true;
                l.lease.clone()
            })
            .collect()
    }

    /// Takes `run_id` out of the lost leases (its `finish_run` says so
    /// itself), if this session lost it.
    pub fn forget_loss(&self, run_id: &str) -> Option<LostLease> {
        let mut lost = lock(&self.inner.lost);
        let at = lost.iter().position(|l| l.lease.run_id == run_id)?;
        Some(lost.remove(at).lease)
    }

    /// Stops taking leases and finishes every held run as cancelled, all at
    /// once, giving up after `within` (those leases then lapse at their TTL).
    pub async fn shutdown(&self, within: Duration) -> ShutdownReport {
        *lock(&self.inner.closed) = true;
        let guards: Vec<RunGuard> = self
            .entries()
            .drain()
            .map(|(_, entry)| {
                entry.watcher.abort();
                entry.guard
            })
            .collect();
        let total = guards.len();
        if total == 0 {
            return ShutdownReport::default();
        }
        let finished = AtomicUsize::new(0);
        let finishing = join_all(guards.into_iter().map(|guard| {
            let finished = &finished;
            async move {
                let run_id = guard.run_id().to_owned();
                match guard
                    .finish_with_summary(Outcome::Cancelled, "availsync-mcp shut down")
                    .await
                {
                    Ok(answer) => {
                        finished.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(%run_id, released = answer.released, "finished run as cancelled on shutdown");
                    }
                    Err(e) => {
                        tracing::warn!(%run_id, error = %e, "could not finish run on shutdown; its lease will lapse at its TTL");
                    }
                }
            }
        }));
        if tokio::time::timeout(within, finishing).await.is_err() {
            tracing::warn!(
                timeout = ?within,
                "finishing runs on shutdown took too long; unfinished leases will lapse at their TTL"
            );
        }
        let finished = finished.load(Ordering::Relaxed);
        ShutdownReport {
            finished,
            unfinished: total - finished,
        }
    }
}

/// Records a lost lease for the model to hear of, and finishes the run as
/// cancelled once its maximum run time has passed.
async fn watch(registry: Weak<Inner>, run_id: String, resource: String, lost: CancellationToken) {
    let Some(max_run_time) = registry.upgrade().map(|r| r.max_run_time) else {
        return;
    };
    let deadline = Instant::now().checked_add(max_run_time);
    let until_deadline = || async move {
        match deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    let record = |cause: LostCause| {
        if let Some(registry) = registry.upgrade() {
            registry.record_loss(LostLease {
                run_id: run_id.clone(),
                resource: resource.clone(),
                cause,
            });
        }
    };
    tokio::select! {
        () = lost.cancelled() => {
            let state = registry
                .upgrade()
                .and_then(|r| lock(&r.entries).get(&run_id).map(|e| e.guard.state()));
            let cause = state.map_or(LostCause::Lapsed, |s| LostCause::of(&s, max_run_time));
            tracing::warn!(%run_id, %resource, ?cause, "lease lost; the model is told in its next tool answer");
            record(cause);
            until_deadline().await;
        }
        () = until_deadline() => {
            record(LostCause::MaxRunTime(max_run_time));
        }
    }
    // Take the entry without aborting this task (it is the one running).
    let Some(entry) = registry
        .upgrade()
        .and_then(|r| lock(&r.entries).remove(&run_id))
    else {
        return;
    };
    tracing::warn!(%run_id, %resource, max_run_time = ?max_run_time, "maximum run time reached without finish_run; finishing the run as cancelled");
    let summary = format!(
        "availsync-mcp: maximum run time of {} reached without finish_run",
        crate::text::duration(max_run_time)
    );
    if let Err(e) = entry
        .guard
        .finish_with_summary(Outcome::Cancelled, &summary)
        .await
    {
        tracing::warn!(%run_id, error = %e, "could not finish the run; its lease will lapse at its TTL");
    }
}
