//! Bounded waiting (SPEC §13): who waits, in what order, and until when.
//!
//! A `run/start` with `wait_seconds` that would be told to skip because
//! other runs hold what it asks for joins a queue kept in the store: one
//! row per waiter, numbered in arrival order, with one key row per resource
//! its claim would take (its `depends_on` closure included) and, when the
//! plan's limit blocked it, the workspace's plan key. Every start, waiting
//! or not, first grants the earlier live waiters on its keys that can be
//! served now, in arrival order, and only then decides for itself: so a
//! later arrival never overtakes an earlier one that the freed capacity
//! could serve, on one server or on several. A waiter holds nothing while
//! it waits; one that cannot be served yet (another of its resources is
//! still held) lets later ones take what it cannot use, and keeps its
//! place.
//!
//! Waiting costs no thread and no database connection: a waiter is a
//! future parked on a notification (see `crate::app::waiting`).

use std::time::Duration;

use availsync_types::{PathPattern, ResourceKey, StartRunResponse, Timestamp, WorkingSetMode};
use serde::{Deserialize, Serialize};

use super::ids::RunId;
use super::lease::{Blocker, StartDecision};
use super::working_sets::{RequestedSet, Want};
use crate::store::StartRun;

/// The longest `wait_seconds` a start may ask for.
pub const MAX_WAIT_SECONDS: u32 = 60;

/// How long a waiter's row stays live without its replica renewing it: a
/// replica that dies leaves the queue within this.
pub const WAITER_LIVENESS: Duration = Duration::from_secs(10);

/// Until when a waiter's row, written or renewed at `now`, stays live.
pub fn alive_until(now: Timestamp) -> Timestamp {
    now.add_millis(i64::try_from(WAITER_LIVENESS.as_millis()).unwrap_or(i64::MAX))
}

/// How often a replica renews its waiters' rows.
pub const WAITER_RENEWAL: Duration = Duration::from_secs(3);

/// Most earlier waiters one start tries to serve before deciding for
/// itself.
pub const SERVE_BATCH: usize = 32;

/// The queue key a plan-limit waiter waits on: the workspace as a whole
/// (not a resource key, which always has a `type:`).
pub const PLAN_KEY: &str = "";

/// How a start takes part in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queueing {
    /// Answer at once (v1), after serving earlier waiters.
    Immediate,
    /// Join the queue if it would be told to skip; until `deadline`,
    /// renewed by `replica`.
    Join {
        /// When the wait ends.
        deadline: Timestamp,
        /// The replica that serves the waiter.
        replica: Replica,
    },
    /// Try again as waiter `seq`, staying queued if still blocked.
    Retry {
        /// The waiter.
        seq: i64,
    },
    /// The wait is over: leave the queue and answer, a skip included.
    Last {
        /// The waiter.
        seq: i64,
    },
}

impl Queueing {
    /// The waiter this start is, if it already queued.
    pub fn waiter(self) -> Option<i64> {
        match self {
            Self::Retry { seq } | Self::Last { seq } => Some(seq),
            Self::Immediate | Self::Join { .. } => None,
        }
    }

    /// Whether a skip is kept in the queue instead of answered.
    pub fn queues_skips(self) -> bool {
        matches!(self, Self::Join { .. } | Self::Retry { .. })
    }
}

/// A replica's identity in the queue: random per process, so a restarted
/// server does not renew its predecessor's waiters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Replica(pub u64);

impl Replica {
    /// A new identity.
    pub fn generate() -> Self {
        Self(rand::random::<u64>() >> 1)
    }

    /// As stored (a non-negative `BIGINT`).
    pub fn as_i64(self) -> i64 {
        i64::try_from(self.0).unwrap_or(i64::MAX)
    }
}

/// What a start led to.
#[derive(Debug, Clone, PartialEq)]
pub enum StartOutcome {
    /// An answer for the client.
    Answered(Box<StartRunResponse>),
    /// Still waiting, as waiter `seq`.
    Queued(Queued),
}

impl StartOutcome {
    /// An answer for the client.
    pub fn answered(answer: StartRunResponse) -> Self {
        Self::Answered(Box::new(answer))
    }
}

/// A start that waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Its place in the queue (arrival order across replicas).
    pub seq: i64,
    /// When what blocks it lapses unless extended: the time to look again
    /// if nothing frees it sooner.
    pub retry_at: Option<Timestamp>,
}

/// What serving earlier waiters did, for the notifications the store sends
/// once it has committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// Waiters granted a claim, to be woken to read it.
    pub granted: Vec<i64>,
}

/// What the queue's replicas tell each other, as it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueSignal {
    /// Something in the workspace was released: its waiters may be
    /// served.
    Freed {
        /// The workspace.
        workspace_id: String,
    },
    /// These waiters were granted a claim (or refused): wake them.
    Granted(Vec<i64>),
    /// Signals may have been missed (a reconnect): look at every waiter
    /// again.
    Resync,
}

/// Signals sent and heard by one store.
pub type SignalSender = tokio::sync::broadcast::Sender<QueueSignal>;

/// A new channel for a store's signals.
pub fn signal_channel() -> SignalSender {
    tokio::sync::broadcast::channel(1024).0
}

/// The keys a blocked start waits on: each resource its claim would take,
/// and the plan key when the plan's limit is what blocks it.
pub fn queue_keys(claims: &[(ResourceKey, bool)], blocker: Option<&Blocker>) -> Vec<String> {
    let mut keys: Vec<String> = claims.iter().map(|(r, _)| r.to_string()).collect();
    if matches!(blocker, Some(Blocker::PlanLimit { .. })) {
        keys.push(PLAN_KEY.to_owned());
    }
    keys
}

/// The keys a start looks for earlier waiters on: its resources (the
/// closure) and the plan key.
pub fn serve_keys(claims: &[ResourceKey]) -> Vec<String> {
    claims
        .iter()
        .map(ToString::to_string)
        .chain(std::iter::once(PLAN_KEY.to_owned()))
        .collect()
}

/// When what blocks a decision lapses unless extended.
pub fn retry_at(decided: &StartDecision) -> Option<Timestamp> {
    match decided.blocker.as_ref()? {
        Blocker::Claimed(block) => {
            let holders = block.holders.iter().flatten().map(|h| h.expires_at);
            let conflicts = block
                .conflicts
                .iter()
                .flatten()
                .map(|c| c.holder().expires_at);
            std::iter::once(block.holder.expires_at)
                .chain(holders)
                .chain(conflicts)
                .min()
        }
        Blocker::PlanLimit {
            earliest_expiry, ..
        } => Some(*earliest_expiry),
    }
}

/// Whether a decision is one a waiter keeps waiting on: an enforcing skip.
pub fn keeps_waiting(decided: &StartDecision) -> bool {
    !decided.grants() && decided.blocker.is_some() && !decided.decision.proceeds()
}

/// The answer a waiter gets, with how long it waited. A grant made while
/// it waited reads as the fresh answer it is, not a replay.
pub fn waited_answer(
    mut answer: StartRunResponse,
    waited: Duration,
    granted_while_waiting: bool,
) -> StartRunResponse {
    if granted_while_waiting {
        answer.replayed = false;
    }
    answer.waited_ms = Some(u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
    answer
}

/// A waiter's start as the queue keeps it, so that any replica can grant
/// it: the validated request, minus the mode (observe runs never wait).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedStart {
    resource: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    also: Vec<String>,
    ttl_seconds: u32,
    run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paths: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paths_mode: Option<WorkingSetMode>,
    #[serde(default)]
    partial: bool,
}

impl From<&StartRun> for QueuedStart {
    fn from(start: &StartRun) -> Self {
        let (paths, paths_mode, partial) = match &start.want {
            Want::Whole => (None, None, false),
            Want::Paths(set) => (
                Some(set.paths.iter().map(ToString::to_string).collect()),
                Some(set.mode),
                set.partial,
            ),
        };
        Self {
            resource: start.resource.to_string(),
            also: start.also.iter().map(ToString::to_string).collect(),
            ttl_seconds: start.ttl_seconds,
            run_id: start.run_id.to_string(),
            purpose: start.purpose.clone(),
            metadata: start.metadata.clone(),
            paths,
            paths_mode,
            partial,
        }
    }
}

impl QueuedStart {
    /// As JSON, for the queue's row.
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// The start again, from a queue row written by [`Self::to_json`].
    pub fn from_json(json: &str) -> Option<StartRun> {
        let stored: Self = serde_json::from_str(json).ok()?;
        stored.into_start()
    }

    fn into_start(self) -> Option<StartRun> {
        let want = match self.paths {
            None => Want::Whole,
            Some(paths) => Want::Paths(RequestedSet {
                paths: paths
                    .iter()
                    .map(|p| p.parse::<PathPattern>().ok())
                    .collect::<Option<_>>()?,
                mode: self.paths_mode.unwrap_or_default(),
                partial: self.partial,
            }),
        };
        Some(StartRun {
            resource: ResourceKey::parse(&self.resource).ok()?,
            ttl_seconds: self.ttl_seconds,
            run_id: RunId::new(self.run_id),
            purpose: self.purpose,
            observe_requested: false,
            metadata: self.metadata,
            want,
            also: self
                .also
                .iter()
                .map(|r| ResourceKey::parse(r).ok())
                .collect::<Option<_>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_start_round_trips() {
        let start = StartRun {
            resource: ResourceKey::parse("repo:acme/web").unwrap(),
            ttl_seconds: 60,
            run_id: RunId::new("r-1"),
            purpose: Some("deploy".into()),
            observe_requested: false,
            metadata: None,
            want: Want::Paths(RequestedSet {
                paths: vec!["src/**".parse().unwrap()],
                mode: WorkingSetMode::Edit,
                partial: false,
            }),
            also: vec![],
        };
        let json = QueuedStart::from(&start).to_json().unwrap();
        let back = QueuedStart::from_json(&json).unwrap();
        assert_eq!(back.resource, start.resource);
        assert_eq!(back.run_id.as_str(), "r-1");
        assert_eq!(back.want, start.want);
        assert!(QueuedStart::from_json("{}").is_none());
    }

    #[test]
    fn plan_limited_waiters_also_wait_on_the_workspace() {
        let claims = vec![(ResourceKey::parse("repo:a/b").unwrap(), false)];
        let plan = Blocker::PlanLimit {
            limit: 3,
            earliest_expiry: Timestamp::from_unix_millis(1),
        };
        assert_eq!(queue_keys(&claims, Some(&plan)), vec!["repo:a/b", PLAN_KEY]);
        assert_eq!(queue_keys(&claims, None), vec!["repo:a/b"]);
    }
}
