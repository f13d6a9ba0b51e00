//! The RAII run guard: a claimed lease kept alive in the background until
//! the work finishes, with prompt notice when it is lost.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use availsync_types::{
    BlockedPath, Claim, ClaimedResource, Conflict, Decision, FinishRunResponse, Holder, Outcome,
    Reason, ResourceKey, RunStatus, StartRunResponse, Timestamp, UpdateWorkingSetResponse,
    WorkingSet,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::client::Client;
use crate::config::RetryPolicy;
use crate::error::Result;
use crate::requests::PathsChange;
use crate::transport::Retry;

/// What starting a run gave.
#[derive(Debug)]
#[must_use = "a claimed guard should be finished; a skip means do not do the work"]
pub enum RunStart {
    /// The lease is held and kept alive until the guard is finished.
    Claimed(RunGuard),
    /// A [`StartRun::partial`](crate::StartRun::partial) working-set start
    /// some of whose paths are held by others (`partial_proceed`): the
    /// guard holds the free ones ([`RunGuard::working_set`]); the rest are
    /// listed with their holders. Work only on the paths held.
    Partial(RunGuard, Vec<BlockedPath>),
    /// Do not do the work now.
    Skipped(Skipped),
    /// An observe run: go ahead; nothing is protected.
    Observed(ObservedRun),
}

impl RunStart {
    /// For a start with a [`StartRun::wait`](crate::StartRun::wait): how
    /// long the server waited before it answered (zero when it did not
    /// wait). `None` when no wait was asked, or from a server that does
    /// not wait (one older than SPEC §13, which ignores the wait).
    pub fn waited(&self) -> Option<Duration> {
        match self {
            Self::Claimed(guard) | Self::Partial(guard, _) => guard.waited(),
            Self::Skipped(skip) => skip.waited,
            Self::Observed(observed) => observed.waited,
        }
    }
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
    /// For a start with a [`StartRun::wait`](crate::StartRun::wait): how
    /// long the server waited before it gave up (about the wait asked).
    /// `None` when no wait was asked or the server does not wait.
    pub waited: Option<Duration>,
}

impl Skipped {
    /// The holder, when another claim holds the resource (for a working
    /// set, the blocker whose lease lapses first).
    pub fn holder(&self) -> Option<&Holder> {
        self.reason.holder.as_ref()
    }

    /// For a working set (`paths_claimed`, or a working set meeting a
    /// whole-repository claim): each requested path that is held, who holds
    /// it and the holder's overlapping patterns ([`Conflict::Path`]). For
    /// several resources or a `depends_on` closure: each blocked resource
    /// ([`Conflict::Resource`]). Empty otherwise.
    pub fn conflicts(&self) -> &[Conflict] {
        self.reason.conflicts.as_deref().unwrap_or_default()
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
    /// For a start with a wait: zero, since observe runs never wait.
    pub waited: Option<Duration>,
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
#[non_exhaustive]
pub struct Lease {
    /// The run.
    pub run_id: String,
    /// The resource.
    pub resource: ResourceKey,
    /// Pass it to downstream systems so they refuse a superseded writer.
    pub fencing_token: u64,
    /// Fires when the lease is lost.
    pub lost: CancellationToken,
    /// The paths held when the work began, for a working-set claim (a
    /// partial grant holds only the free ones); `None` for the whole
    /// resource.
    pub working_set: Option<WorkingSet>,
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
    /// The paths the claim holds: as granted, then as the last change the
    /// server acknowledged left them. Extends never change them.
    working_set: std::sync::Mutex<Option<WorkingSet>>,
    /// Serialises working-set changes, so that the paths kept above are
    /// those of the change the server made last.
    changing: tokio::sync::Mutex<()>,
    /// Held → uncertain → lost, as the extend loop or a change learns it.
    state: watch::Sender<LeaseState>,
    /// Cancelled when the lease is lost.
    lost: CancellationToken,
}

#[derive(Clone, Copy)]
struct LocalLease {
    deadline: Instant,
    expires_at: Timestamp,
}

impl Shared {
    fn new(
        client: Client,
        run_id: String,
        resource: ResourceKey,
        claim: Claim,
        lease: LocalLease,
        state: LeaseState,
    ) -> Arc<Self> {
        let working_set = claim.working_set.clone();
        Arc::new(Self {
            client,
            run_id,
            resource,
            claim,
            lease: std::sync::Mutex::new(lease),
            working_set: std::sync::Mutex::new(working_set),
            changing: tokio::sync::Mutex::new(()),
            state: watch::channel(state).0,
            lost: CancellationToken::new(),
        })
    }

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

    fn working_set(&self) -> std::sync::MutexGuard<'_, Option<WorkingSet>> {
        self.working_set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The lease is gone: say so, once and for good.
    fn give_up(&self, reason: LossReason) {
        tracing::warn!(%reason, run_id = %self.run_id, "lease lost");
        self.state.send_replace(LeaseState::Lost(reason));
        self.lost.cancel();
    }

    /// Sends `state` unless the lease is already lost: an extend answered
    /// after a change learned of the loss must not make it look held.
    fn set_state(&self, state: LeaseState) {
        self.state.send_if_modified(|current| {
            if matches!(current, LeaseState::Lost(_)) {
                return false;
            }
            *current = state;
            true
        });
    }

    async fn change_paths(&self, change: PathsChange) -> Result<UpdateWorkingSetResponse> {
        let _one_at_a_time = self.changing.lock().await;
        let answer = self.client.change_paths(&self.run_id, &change).await;
        match &answer {
            Ok(update) => *self.working_set() = update.claim.working_set.clone(),
            Err(e) if e.is_lease_lost() || e.is_not_found() => self.give_up(LossReason::Revoked),
            Err(_) => {}
        }
        answer
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
    stop: CancellationToken,
    extender: Option<JoinHandle<()>>,
    /// How long the server waited before granting (a waited start).
    waited: Option<Duration>,
}

impl std::fmt::Debug for RunGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunGuard")
            .field("run_id", &self.shared.run_id)
            .field("resource", &self.shared.resource)
            .field("fencing_token", &self.shared.claim.fencing_token)
            .field("working_set", &*self.shared.working_set())
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
    let waited = answer.waited_ms.map(Duration::from_millis);
    match (answer.decision, answer.claim) {
        (decision, Some(claim)) if decision.proceeds() => {
            let mut guard = if answer.status == RunStatus::Active {
                let granted_at = granted_at(sent_at, waited, answer.replayed);
                RunGuard::start(client, answer.run_id, resource, claim, granted_at)
            } else {
                // A replay of a run whose lease is already gone: hand back
                // a guard that is lost from the start, so the work never
                // begins.
                RunGuard::lost_from_start(client, answer.run_id, resource, claim)
            };
            guard.waited = waited;
            if decision == Decision::PartialProceed {
                RunStart::Partial(guard, answer.blocked.unwrap_or_default())
            } else {
                RunStart::Claimed(guard)
            }
        }
        (Decision::Proceed, None) => RunStart::Observed(ObservedRun {
            run_id: answer.run_id,
            resource,
            would_block: answer.would_block,
            reason: answer.reason,
            waited,
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
            waited,
        }),
    }
}

/// The earliest the server can have granted a lease, by the local clock:
/// the start was sent at `sent_at`, reached the server after that, and
/// waited there `waited` before the grant. Counting the lease from here
/// keeps it conservative without throwing away a long wait (a 60 s wait
/// for a 30 s lease would otherwise look lapsed on arrival). A replay's
/// wait is that of an earlier request, sent before this one: it is not
/// added. Never later than now.
fn granted_at(sent_at: Instant, waited: Option<Duration>, replayed: bool) -> Instant {
    match waited {
        Some(waited) if !replayed => (sent_at + waited).min(Instant::now()),
        _ => sent_at,
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
        let state = LeaseState::Held {
            expires_at: claim.expires_at,
        };
        let stop = CancellationToken::new();
        let ttl = Duration::from_secs(u64::from(claim.ttl_seconds));
        let lease = LocalLease {
            deadline: granted_at + ttl - safety_margin(ttl),
            expires_at: claim.expires_at,
        };
        let shared = Shared::new(client, run_id, resource, claim, lease, state);
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
            keep_alive(Arc::clone(&shared), granted_at, stop.clone()).instrument(span),
        );
        Self {
            state: shared.state.subscribe(),
            shared,
            stop,
            extender: Some(extender),
            waited: None,
        }
    }

    fn lost_from_start(
        client: Client,
        run_id: String,
        resource: ResourceKey,
        claim: Claim,
    ) -> Self {
        let lease = LocalLease {
            deadline: Instant::now(),
            expires_at: claim.expires_at,
        };
        let state = LeaseState::Lost(LossReason::Revoked);
        let shared = Shared::new(client, run_id, resource, claim, lease, state);
        shared.lost.cancel();
        Self {
            state: shared.state.subscribe(),
            shared,
            stop: CancellationToken::new(),
            extender: None,
            waited: None,
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

    /// For a start with a [`StartRun::wait`](crate::StartRun::wait): how
    /// long the server waited before granting (zero when the resource was
    /// free). `None` when no wait was asked or the server does not wait.
    pub fn waited(&self) -> Option<Duration> {
        self.waited
    }

    /// The claim as granted (its `working_set` as granted too:
    /// [`RunGuard::working_set`] follows later changes).
    pub fn claim(&self) -> &Claim {
        &self.shared.claim
    }

    /// The paths the claim holds now, for a working-set claim: as granted,
    /// then as the last change the server acknowledged left them
    /// ([`RunGuard::add_paths`], [`RunGuard::remove_paths`]). `None` for a
    /// claim on the whole resource. The background extends keep the claim
    /// with these paths; they never change them.
    pub fn working_set(&self) -> Option<WorkingSet> {
        self.shared.working_set().clone()
    }

    /// Adds paths to the claim's working set, atomically: when another live
    /// claim holds one of them, nothing changes and the answer is
    /// [`Error::PathsClaimed`](crate::Error::PathsClaimed) naming the
    /// holders. The fencing token stays. Paths are checked before anything
    /// is sent, like [`StartRun::working_set`](crate::StartRun::working_set)'s
    /// (a refused one is `add[i]`).
    ///
    /// ```no_run
    /// # async fn demo(client: availsync_sdk::Client) -> availsync_sdk::Result<()> {
    /// use availsync_sdk::{Outcome, RunStart, StartRun, WorkingSetMode};
    ///
    /// let start = StartRun::new("repo:acme/web")?
    ///     .working_set(["src/api/"], WorkingSetMode::Edit)?;
    /// if let RunStart::Claimed(guard) = client.claim(start).await? {
    ///     // The work turned out to need the schema too.
    ///     guard.add_paths(["src/db/schema.rs"]).await?;
    ///     assert_eq!(guard.working_set().unwrap().paths.len(), 2);
    ///     guard.remove_paths(["src/api/"]).await?;
    ///     guard.finish(Outcome::Succeeded).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn add_paths<I>(&self, paths: I) -> Result<UpdateWorkingSetResponse>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.change_paths(PathsChange::new().add_paths(paths)?)
            .await
    }

    /// Like [`RunGuard::add_paths`], but takes the free paths when some are
    /// held, listing the rest (and their holders) in the answer's
    /// `blocked`. A change none of whose added paths are free is still
    /// [`Error::PathsClaimed`](crate::Error::PathsClaimed).
    pub async fn add_free_paths<I>(&self, paths: I) -> Result<UpdateWorkingSetResponse>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.change_paths(PathsChange::new().add_paths(paths)?.partial())
            .await
    }

    /// Gives paths back (as given at the start, or as the server echoed
    /// them), so that others may claim them; the rest stay held. Removing
    /// every path is refused (`400 invalid_working_set`): finish the run
    /// instead.
    pub async fn remove_paths<I>(&self, paths: I) -> Result<UpdateWorkingSetResponse>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.change_paths(PathsChange::new().remove_paths(paths)?)
            .await
    }

    /// Adds and removes paths in one atomic change. Changes of one guard
    /// are sent one at a time, so [`RunGuard::working_set`] ends as the
    /// server's last answer left it. A `lease_lost` answer makes the guard
    /// lost at once.
    ///
    /// The future borrows nothing from the guard, so it may be made while
    /// the guard is locked away (e.g. in a registry behind a mutex) and
    /// awaited after the lock is released.
    pub fn change_paths(
        &self,
        change: PathsChange,
    ) -> impl Future<Output = Result<UpdateWorkingSetResponse>> + Send + use<> {
        let shared = Arc::clone(&self.shared);
        async move { shared.change_paths(change).await }
    }

    /// The fencing token: pass it downstream so writers with a superseded
    /// lease are refused. For a claim on several resources, the first
    /// requested one's ([`RunGuard::fencing_tokens`] lists each).
    pub fn fencing_token(&self) -> u64 {
        self.shared.claim.fencing_token
    }

    /// Every resource the claim holds, each with its own fencing token: the
    /// resources a several-resource start named and those a `depends_on`
    /// rule added (SPEC §11–12), the first requested one first. A claim on
    /// one resource answers that one.
    ///
    /// ```no_run
    /// # async fn demo(client: availsync_sdk::Client) -> availsync_sdk::Result<()> {
    /// use availsync_sdk::{Outcome, RunStart, StartRun};
    ///
    /// let start = StartRun::resources(["service:billing", "db:billing"])?;
    /// if let RunStart::Claimed(guard) = client.claim(start).await? {
    ///     for held in guard.fencing_tokens() {
    ///         println!("{} fencing token {}", held.resource, held.fencing_token);
    ///     }
    ///     guard.finish(Outcome::Succeeded).await?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn fencing_tokens(&self) -> Vec<ClaimedResource> {
        let claim = &self.shared.claim;
        claim.resources.clone().unwrap_or_else(|| {
            vec![ClaimedResource {
                resource: claim.resource.clone(),
                fencing_token: claim.fencing_token,
            }]
        })
    }

    /// The fencing token of one resource of the claim (normalised as keys
    /// are: `repo:Acme/Web` finds `repo:acme/web`); `None` when the claim
    /// does not hold it.
    pub fn fencing_token_for(&self, resource: &str) -> Option<u64> {
        let key: ResourceKey = resource.parse().ok()?;
        self.fencing_tokens()
            .into_iter()
            .find(|held| held.resource == key.as_str())
            .map(|held| held.fencing_token)
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
        self.shared.lost.cancelled().await;
        match &*self.state.borrow() {
            LeaseState::Lost(reason) => *reason,
            _ => LossReason::Revoked,
        }
    }

    /// A token cancelled when the lease is lost; hand it to the work.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.shared.lost.child_token()
    }

    /// What a work closure may see of this lease.
    pub fn lease(&self) -> Lease {
        Lease {
            run_id: self.shared.run_id.clone(),
            resource: self.shared.resource.clone(),
            fencing_token: self.shared.claim.fencing_token,
            lost: self.cancellation_token(),
            working_set: self.working_set(),
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
async fn keep_alive(shared: Arc<Shared>, granted_at: Instant, stop: CancellationToken) {
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
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            // A working-set change learned that the lease is gone.
            () = shared.lost.cancelled() => return,
            () = tokio::time::sleep_until(next.min(deadline)) => {}
        }
        if Instant::now() >= deadline {
            shared.give_up(LossReason::Expired);
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
                shared.give_up(LossReason::Expired);
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
                shared.set_state(LeaseState::Held { expires_at });
            }
            Some(Err(e)) if e.is_lease_lost() || e.is_not_found() => {
                shared.give_up(LossReason::Revoked);
                return;
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "extend failed; retrying");
                shared.set_state(LeaseState::Uncertain {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waited_grant_counts_its_lease_from_the_end_of_the_wait_but_never_later_than_now() {
        let sent_at = Instant::now() - Duration::from_secs(30);
        let waited = Some(Duration::from_secs(20));
        assert_eq!(
            granted_at(sent_at, waited, false),
            sent_at + Duration::from_secs(20)
        );
        assert_eq!(granted_at(sent_at, None, false), sent_at);
        // A replay's wait was an earlier request's.
        assert_eq!(granted_at(sent_at, waited, true), sent_at);
        // A wait longer than the call itself took (a clock between the two
        // that runs fast) is cut to now.
        let late = granted_at(sent_at, Some(Duration::from_secs(300)), false);
        assert!(late <= Instant::now() && late > sent_at);
    }
}
