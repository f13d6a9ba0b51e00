//! The RAII run guard: a claimed lease kept alive in the background until
//! the work finishes, with prompt notice when it is lost.

use std::sync::Arc;
use std::time::Duration;

use availsync_types::{
    Claim, Decision, FinishRunResponse, Holder, Outcome, Reason, ResourceKey, RunStatus,
    StartRunResponse, Timestamp,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::client::Client;
use crate::config::RetryPolicy;
use crate::error::Result;
use crate::transport::Retry;

/// What starting a run gave.
#[derive(Debug)]
#[must_use = "a claimed guard should be finished; a skip means do not do the work"]
pub enum RunStart {
    /// The lease is held and kept alive until the guard is finished.
    Claimed(RunGuard),
    /// Do not do the work now.
    Skipped(Skipped),
    /// An observe run: go ahead; nothing is protected.
    Observed(ObservedRun),
}

/// A `skip_run` answer.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Skipped {
    /// The run (recorded as skipped).
    pub run_id: String,
    /// The resource.
    pub resource: ResourceKey,
    /// Why: who holds it, or the plan's limit.
    pub reason: Reason,
    /// How long until the blocking claim lapses unless extended.
    pub retry_after: Option<Duration>,
    /// Whether this answer replayed an earlier start with the same run id.
    pub replayed: bool,
}

impl Skipped {
    /// The holder, when another claim holds the resource.
    pub fn holder(&self) -> Option<&Holder> {
        self.reason.holder.as_ref()
    }
}

/// An observe run: it proceeds without a lease.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ObservedRun {
    /// The run.
    pub run_id: String,
    /// The resource.
    pub resource: ResourceKey,
    /// Whether an enforcing run would have been told to skip.
    pub would_block: bool,
    /// What would have blocked it.
    pub reason: Option<Reason>,
    client: Client,
}

impl ObservedRun {
    /// Records how the run ended.
    pub async fn finish(&self, outcome: Outcome) -> Result<FinishRunResponse> {
        self.client.finish_run(&self.run_id, outcome, None).await
    }
}

/// Where a guard's lease stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseState {
    /// Held: the last extend succeeded.
    Held {
        /// When the lease lapses unless extended again.
        expires_at: Timestamp,
    },
    /// Extends are failing transiently; the lease may still be held. Like
    /// Curator's SUSPENDED: pause side effects you cannot undo.
    Uncertain {
        /// The last failure.
        error: String,
    },
    /// The lease is gone: stop the work.
    Lost(LossReason),
}

/// Why a lease was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// The server answered `lease_lost` (expired, released or finished
    /// elsewhere) or no longer knows the run.
    Revoked,
    /// No extend succeeded before the lease would lapse by the local clock.
    Expired,
}

impl std::fmt::Display for LossReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Revoked => "the server no longer grants the lease",
            Self::Expired => "no extend succeeded before the lease would lapse",
        })
    }
}

/// What the work closure of [`Client::guarded`](crate::Client::guarded) can
/// see of its lease.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The run.
    pub run_id: String,
    /// The resource.
    pub resource: ResourceKey,
    /// Pass it to downstream systems so they refuse a superseded writer.
    pub fencing_token: u64,
    /// Fires when the lease is lost.
    pub lost: CancellationToken,
}

struct Shared {
    client: Client,
    run_id: String,
    resource: ResourceKey,
    claim: Claim,
    /// When the lease must be taken as lapsed by the local monotonic clock
    /// (moved on by every successful extend), and the latest `expires_at`
    /// the server gave. Readers check the deadline themselves, so a late
    /// extender task can never make a lapsed lease look held.
    lease: std::sync::Mutex<LocalLease>,
}

#[derive(Clone, Copy)]
struct LocalLease {
    deadline: Instant,
    expires_at: Timestamp,
}

impl Shared {
    fn local_lease(&self) -> LocalLease {
        *self
            .lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_local_lease(&self, lease: LocalLease) {
        *self
            .lease
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = lease;
    }
}

/// A held lease. A background task extends it about every ttl/3 and retries
/// transient failures until the lease would lapse; [`RunGuard::lost`] and
/// [`RunGuard::cancellation_token`] fire as soon as it is lost.
///
/// Finish it with [`RunGuard::finish`]. Dropping it unfinished finishes the
/// run as `cancelled` in the background when a tokio runtime is running, and
/// otherwise lets the lease lapse at its TTL. Drop never blocks or panics.
pub struct RunGuard {
    shared: Arc<Shared>,
    state: watch::Receiver<LeaseState>,
    lost: CancellationToken,
    stop: CancellationToken,
    extender: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RunGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunGuard")
            .field("run_id", &self.shared.run_id)
            .field("resource", &self.shared.resource)
            .field("fencing_token", &self.shared.claim.fencing_token)
            .field("state", &*self.state.borrow())
            .finish()
    }
}

/// Turns a start answer into a guard, a skip or an observed run. `sent_at`
/// is when the start was first sent: the server granted the lease after it,
/// so counting the lease from it is conservative.
pub(crate) fn from_start(
    client: Client,
    resource: ResourceKey,
    answer: StartRunResponse,
    sent_at: Instant,
) -> RunStart {
    match (answer.decision, answer.claim) {
        (Decision::Proceed | Decision::PartialProceed, Some(claim))
            if answer.status != RunStatus::Active =>
        {
            // A replay of a run whose lease is already gone: hand back a
            // guard that is lost from the start, so the work never begins.
            RunStart::Claimed(RunGuard::lost_from_start(
                client,
                answer.run_id,
                resource,
                claim,
            ))
        }
        (Decision::Proceed | Decision::PartialProceed, Some(claim)) => RunStart::Claimed(
            RunGuard::start(client, answer.run_id, resource, claim, sent_at),
        ),
        (Decision::Proceed, None) => RunStart::Observed(ObservedRun {
            run_id: answer.run_id,
            resource,
            would_block: answer.would_block,
            reason: answer.reason,
            client,
        }),
        (_, _) => RunStart::Skipped(Skipped {
            run_id: answer.run_id,
            resource,
            reason: answer.reason.unwrap_or_else(|| Reason {
                code: availsync_types::ReasonCode::ResourceClaimed,
                message: "the server said skip_run without a reason".into(),
                holder: None,
                conflicts: None,
                holders: None,
            }),
            retry_after: answer.retry_after.map(Duration::from_secs),
            replayed: answer.replayed,
        }),
    }
}

/// How long before the locally computed lapse a lease is given up: a tenth
/// of the ttl, at most two seconds.
fn safety_margin(ttl: Duration) -> Duration {
    (ttl / 10).min(Duration::from_secs(2))
}

impl RunGuard {
    fn start(
        client: Client,
        run_id: String,
        resource: ResourceKey,
        claim: Claim,
        granted_at: Instant,
    ) -> Self {
        let (sender, state) = watch::channel(LeaseState::Held {
            expires_at: claim.expires_at,
        });
        let lost = CancellationToken::new();
        let stop = CancellationToken::new();
        let ttl = Duration::from_secs(u64::from(claim.ttl_seconds));
        let lease = LocalLease {
            deadline: granted_at + ttl - safety_margin(ttl),
            expires_at: claim.expires_at,
        };
        let shared = Arc::new(Shared {
            client,
            run_id,
            resource,
            claim,
            lease: std::sync::Mutex::new(lease),
        });
        // The extend loop's span: every extend's own `availsync.call`
        // span sits under it.
        let span = tracing::info_span!(
            "availsync.guard",
            run_id = %shared.run_id,
            resource = %shared.resource,
            ttl_seconds = shared.claim.ttl_seconds,
            fencing_token = shared.claim.fencing_token,
        );
        let extender = tokio::spawn(
            keep_alive(
                Arc::clone(&shared),
                granted_at,
                sender,
                lost.clone(),
                stop.clone(),
            )
            .instrument(span),
        );
        Self {
            shared,
            state,
            lost,
            stop,
            extender: Some(extender),
        }
    }

    fn lost_from_start(
        client: Client,
        run_id: String,
        resource: ResourceKey,
        claim: Claim,
    ) -> Self {
        let (_, state) = watch::channel(LeaseState::Lost(LossReason::Revoked));
        let lost = CancellationToken::new();
        lost.cancel();
        let lease = LocalLease {
            deadline: Instant::now(),
            expires_at: claim.expires_at,
        };
        Self {
            shared: Arc::new(Shared {
                client,
                run_id,
                resource,
                claim,
                lease: std::sync::Mutex::new(lease),
            }),
            state,
            lost,
            stop: CancellationToken::new(),
            extender: None,
        }
    }

    /// The run id.
    pub fn run_id(&self) -> &str {
        &self.shared.run_id
    }

    /// The resource.
    pub fn resource(&self) -> &ResourceKey {
        &self.shared.resource
    }

    /// The claim as granted.
    pub fn claim(&self) -> &Claim {
        &self.shared.claim
    }

    /// The fencing token: pass it downstream so writers with a superseded
    /// lease are refused.
    pub fn fencing_token(&self) -> u64 {
        self.shared.claim.fencing_token
    }

    /// When the lease lapses unless extended again: the latest expiry the
    /// server acknowledged (kept after the lease is lost).
    pub fn expires_at(&self) -> Timestamp {
        self.shared.local_lease().expires_at
    }

    /// The current state. Past the local deadline (the last acknowledged
    /// extend's send time plus the ttl, less a safety margin) the lease is
    /// [`LeaseState::Lost`] even if the background task has not yet run.
    pub fn state(&self) -> LeaseState {
        let state = self.state.borrow().clone();
        match state {
            LeaseState::Lost(_) => state,
            _ if Instant::now() >= self.shared.local_lease().deadline => {
                LeaseState::Lost(LossReason::Expired)
            }
            _ => state,
        }
    }

    /// A watch of the state, to follow held → uncertain → lost.
    pub fn watch(&self) -> watch::Receiver<LeaseState> {
        self.state.clone()
    }

    /// True while the lease is held or uncertain and its local deadline has
    /// not passed: while this is true no other run can have been granted the
    /// resource.
    pub fn is_held(&self) -> bool {
        !matches!(self.state(), LeaseState::Lost(_))
    }

    /// Completes when the lease is lost, with the reason.
    pub async fn lost(&self) -> LossReason {
        self.lost.cancelled().await;
        match &*self.state.borrow() {
            LeaseState::Lost(reason) => *reason,
            _ => LossReason::Revoked,
        }
    }

    /// A token cancelled when the lease is lost; hand it to the work.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.lost.child_token()
    }

    /// What a work closure may see of this lease.
    pub fn lease(&self) -> Lease {
        Lease {
            run_id: self.shared.run_id.clone(),
            resource: self.shared.resource.clone(),
            fencing_token: self.shared.claim.fencing_token,
            lost: self.cancellation_token(),
        }
    }

    /// Stops extending and finishes the run, releasing the lease.
    pub async fn finish(mut self, outcome: Outcome) -> Result<FinishRunResponse> {
        self.finish_with(outcome, None).await
    }

    /// Like [`RunGuard::finish`], with a summary of what was done.
    pub async fn finish_with_summary(
        mut self,
        outcome: Outcome,
        summary: &str,
    ) -> Result<FinishRunResponse> {
        self.finish_with(outcome, Some(summary)).await
    }

    /// Stops extending without finishing, and answers the run id: the lease
    /// lapses at its TTL unless another process extends or finishes the run
    /// by id (with the same agent's key). For handing a run over, or for
    /// simulating a worker that died.
    pub fn detach(mut self) -> String {
        self.stop.cancel();
        if let Some(extender) = self.extender.take() {
            extender.abort();
        }
        self.shared.run_id.clone()
    }

    async fn finish_with(
        &mut self,
        outcome: Outcome,
        summary: Option<&str>,
    ) -> Result<FinishRunResponse> {
        self.stop.cancel();
        if let Some(extender) = self.extender.take() {
            let _ = extender.await;
        }
        self.shared
            .client
            .finish_run(&self.shared.run_id, outcome, summary)
            .await
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.stop.cancel();
        let Some(extender) = self.extender.take() else {
            return; // finished
        };
        extender.abort();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shared = Arc::clone(&self.shared);
            let span = tracing::info_span!(
                "availsync.guard.dropped",
                run_id = %shared.run_id,
                resource = %shared.resource,
            );
            runtime.spawn(
                async move {
                    if let Err(e) = shared
                        .client
                        .finish_run(&shared.run_id, Outcome::Cancelled, Some("run guard dropped"))
                        .await
                    {
                        tracing::warn!(error = %e, "could not finish a dropped run guard; its lease will lapse");
                    }
                }
                .instrument(span),
            );
        }
    }
}

/// Extends the lease every ttl/3 until stopped, retrying transient failures
/// until the lease would lapse by the local monotonic clock.
async fn keep_alive(
    shared: Arc<Shared>,
    granted_at: Instant,
    state: watch::Sender<LeaseState>,
    lost: CancellationToken,
    stop: CancellationToken,
) {
    let ttl = Duration::from_secs(u64::from(shared.claim.ttl_seconds));
    let margin = safety_margin(ttl);
    let interval = ttl / 3;
    let backoff = RetryPolicy {
        max_attempts: u32::MAX,
        initial_backoff: Duration::from_millis(200),
        max_backoff: (interval / 2).max(Duration::from_millis(200)),
    };
    let mut deadline = granted_at + ttl - margin;
    let mut next = granted_at + interval;
    let mut failures = 0;
    let give_up = |reason: LossReason| {
        tracing::warn!(%reason, "lease lost");
        state.send_replace(LeaseState::Lost(reason));
        lost.cancel();
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(next.min(deadline)) => {}
        }
        if Instant::now() >= deadline {
            give_up(LossReason::Expired);
            return;
        }
        let sent_at = Instant::now();
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(deadline) => None,
            answer = shared.client.extend(&shared.run_id, None, Retry::Never) => Some(answer),
        };
        match attempt {
            None => {
                give_up(LossReason::Expired);
                return;
            }
            Some(Ok(answer)) => {
                failures = 0;
                deadline = sent_at + ttl - margin;
                next = sent_at + interval;
                let expires_at = answer
                    .claim
                    .map_or(shared.claim.expires_at, |c| c.expires_at);
                shared.set_local_lease(LocalLease {
                    deadline,
                    expires_at,
                });
                state.send_replace(LeaseState::Held { expires_at });
            }
            Some(Err(e)) if e.is_lease_lost() || e.is_not_found() => {
                give_up(LossReason::Revoked);
                return;
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "extend failed; retrying");
                state.send_replace(LeaseState::Uncertain {
                    error: e.to_string(),
                });
                let mut wait = backoff.backoff(failures);
                if let Some(seconds) = e.api().and_then(|a| a.retry_after) {
                    wait = wait.max(Duration::from_secs(seconds));
                }
                failures += 1;
                next = Instant::now() + wait;
            }
        }
    }
}
