//! Bounded waiting (SPEC §13), as a request lives it: a start with
//! `wait_seconds` that would be told to skip joins the store's queue and
//! parks on a notification until a grant, the lapse of what blocks it, or
//! its deadline. A waiter is a parked future: no thread and no database
//! connection of its own. One task per server hears the queue's signals
//! (from this server, and on PostgreSQL from every replica over one
//! `LISTEN` connection), serves the waiters of a workspace where something
//! was released, wakes the ones granted, and keeps this server's waiters'
//! rows alive. The rules (order, what a waiter waits on) are in
//! [`crate::domain::queue`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use availsync_types::{StartRunResponse, Timestamp};
use tokio::sync::Notify;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use crate::domain::queue::{
    QueueSignal, Queueing, Replica, StartOutcome, WAITER_RENEWAL, waited_answer,
};
use crate::store::{AgentContext, StartRun, Store, StoreError, StoreResult, WorkspaceId};

/// A little after a blocker's lapse, so the retry finds it lapsed.
const AFTER_LAPSE: Duration = Duration::from_millis(2);

/// This server's waiters, and the task that wakes them.
#[derive(Clone)]
pub struct WaitQueue {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    replica: Replica,
    local: Mutex<HashMap<i64, Parked>>,
}

/// A waiter parked on this server.
struct Parked {
    workspace_id: WorkspaceId,
    wake: Arc<Notify>,
}

impl WaitQueue {
    /// Starts the queue's task for `store`; it ends when the last handle
    /// goes.
    pub fn start(store: Arc<dyn Store>) -> Self {
        let inner = Arc::new(Inner {
            store,
            replica: Replica::generate(),
            local: Mutex::new(HashMap::new()),
        });
        tokio::spawn(hear_signals(Arc::downgrade(&inner)));
        Self { inner }
    }

    /// Starts a run that may wait up to `wait` for what it asks for:
    /// answered at once when it need not wait, else granted as soon as it
    /// can be in arrival order, or told to skip at the deadline. The answer
    /// carries `waited_ms`. Dropping the future (the client went away)
    /// gives up its place.
    pub async fn start_run(
        &self,
        agent: &AgentContext,
        start: StartRun,
        wait: Duration,
    ) -> StoreResult<StartRunResponse> {
        let store = &self.inner.store;
        let began = Instant::now();
        let deadline = began + wait;
        let join = Queueing::Join {
            deadline: Timestamp::now().add_millis(millis(wait)),
            replica: self.inner.replica,
        };
        let queued = match store.start_queued(agent, start.clone(), join).await? {
            StartOutcome::Answered(answer) => {
                return Ok(waited_answer(*answer, Duration::ZERO, false));
            }
            StartOutcome::Queued(queued) => queued,
        };
        let seq = queued.seq;
        let wake = Arc::new(Notify::new());
        let mut place = Place::new(self, seq, agent.workspace_id.clone(), Arc::clone(&wake));
        loop {
            // The first try right after parking: a grant made between
            // joining and parking woke no one.
            let retry = Queueing::Retry { seq };
            let retry_at = match store.start_queued(agent, start.clone(), retry).await? {
                StartOutcome::Answered(answer) => {
                    place.settled();
                    return Ok(waited_answer(*answer, began.elapsed(), true));
                }
                StartOutcome::Queued(queued) => queued.retry_at,
            };
            let look_again = retry_at
                .map(|at| Instant::now() + until(at) + AFTER_LAPSE)
                .map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep_until(look_again) => {}
            }
            if Instant::now() >= deadline {
                let last = Queueing::Last { seq };
                return match store.start_queued(agent, start, last).await? {
                    StartOutcome::Answered(answer) => {
                        place.settled();
                        Ok(waited_answer(*answer, began.elapsed(), true))
                    }
                    StartOutcome::Queued(_) => Err(StoreError::Backend(
                        "a waiter's last try stayed queued".into(),
                    )),
                };
            }
        }
    }
}

impl Inner {
    fn parked(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Parked>> {
        self.local.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Wakes parked waiters.
    fn wake(&self, seqs: &[i64]) {
        let parked = self.parked();
        for seq in seqs {
            if let Some(waiter) = parked.get(seq) {
                waiter.wake.notify_one();
            }
        }
    }

    /// The workspaces this server has waiters in.
    fn workspaces(&self) -> HashSet<WorkspaceId> {
        self.parked()
            .values()
            .map(|p| p.workspace_id.clone())
            .collect()
    }

    /// Serves the queue of a workspace where something was released.
    async fn serve(&self, workspace_id: &WorkspaceId) {
        if let Err(error) = self.store.serve_waiters(workspace_id).await {
            tracing::warn!(%error, "could not serve the waiters' queue");
            // Their own timers still bring them back.
        }
    }
}

/// A waiter's place in the queue, given up if the request goes away
/// before it is settled.
struct Place {
    inner: Arc<Inner>,
    seq: i64,
    settled: bool,
}

impl Place {
    fn new(queue: &WaitQueue, seq: i64, workspace_id: WorkspaceId, wake: Arc<Notify>) -> Self {
        queue
            .inner
            .parked()
            .insert(seq, Parked { workspace_id, wake });
        Self {
            inner: Arc::clone(&queue.inner),
            seq,
            settled: false,
        }
    }

    /// The store has taken the waiter out of the queue.
    fn settled(&mut self) {
        self.settled = true;
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.inner.parked().remove(&self.seq);
        // Without a runtime (the server is going down) the row lapses on
        // its own within the waiter liveness.
        if let (false, Ok(runtime)) = (self.settled, tokio::runtime::Handle::try_current()) {
            let (store, seq) = (Arc::clone(&self.inner.store), self.seq);
            runtime.spawn(async move {
                if let Err(error) = store.leave_queue(seq).await {
                    tracing::warn!(%error, "a waiter that went away could not leave the queue");
                }
            });
        }
    }
}

/// The queue's task: hears signals, serves, wakes, renews.
async fn hear_signals(inner: std::sync::Weak<Inner>) {
    let Some(mut signals) = inner.upgrade().map(|i| i.store.queue_signals()) else {
        return;
    };
    let mut renewal = tokio::time::interval(WAITER_RENEWAL);
    renewal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let first = tokio::select! {
            signal = signals.recv() => Some(signal),
            _ = renewal.tick() => None,
        };
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let Some(first) = first else {
            if !inner.parked().is_empty()
                && let Err(error) = inner.store.renew_waiters(inner.replica).await
            {
                tracing::warn!(%error, "could not renew this server's waiters");
            }
            continue;
        };
        // Everything already heard, at once: one serve per workspace.
        let mut to_serve = HashSet::new();
        let mut next = Some(first);
        while let Some(signal) = next {
            match signal {
                Ok(QueueSignal::Granted(seqs)) => inner.wake(&seqs),
                Ok(QueueSignal::Freed { workspace_id }) => {
                    let workspace_id = WorkspaceId::new(workspace_id);
                    if inner.workspaces().contains(&workspace_id) {
                        to_serve.insert(workspace_id);
                    }
                }
                Ok(QueueSignal::Resync) | Err(RecvError::Lagged(_)) => {
                    to_serve.extend(inner.workspaces());
                }
                Err(RecvError::Closed) => return,
            }
            next = match signals.try_recv() {
                Ok(signal) => Some(Ok(signal)),
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                    Some(Err(RecvError::Lagged(n)))
                }
                Err(_) => None,
            };
        }
        for workspace_id in to_serve {
            inner.serve(&workspace_id).await;
        }
    }
}

/// How long until `at`, by the wall clock.
fn until(at: Timestamp) -> Duration {
    let left = at.unix_millis() - Timestamp::now().unix_millis();
    Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
