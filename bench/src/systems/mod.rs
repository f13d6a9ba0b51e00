//! The systems under test, behind one interface so that every workload
//! drives each of them the same way.
//!
//! A [`System`] is a running server (started by the bench as a child
//! process, fresh for every measurement) and a [`Session`] is one client's
//! connection to it. Sessions are not shared between client tasks: each
//! simulated agent has its own connection, as separate agent processes
//! would.

pub mod availsync;
pub mod etcd;
mod etcd_proto;
pub mod redis;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use async_trait::async_trait;

/// How long locks taken by the claim→finish and contended workloads last
/// if the client vanished (they are released at once in the benchmark).
pub const LOCK_TTL: Duration = Duration::from_secs(60);

/// A lease one session holds.
#[derive(Debug, Clone)]
pub struct Lease {
    /// What the system calls it: a run id, an etcd key, a Redis key.
    pub key: String,
    /// The holder's token (compared before a release or an extend); empty
    /// for etcd's lock API, whose key is the token.
    pub token: String,
    /// etcd: the lease the key is attached to when it is this claim's own
    /// (0 when it is the session's shared lease).
    pub own_lease: i64,
    /// The keys of a path set ([`Session::claim_paths`]); empty otherwise.
    pub paths: Vec<String>,
}

/// The answer to a claim that never waits.
#[derive(Debug)]
pub enum Claim {
    /// The claim was granted.
    Granted(Lease),
    /// Someone else holds the resource.
    Skipped,
}

/// One client's connection to a system.
#[async_trait]
pub trait Session: Send {
    /// Claims a resource nobody else uses (the claim→finish workload).
    /// etcd uses its lock API here, as the reference figures do.
    async fn lock(&mut self, resource: &str) -> anyhow::Result<Lease> {
        match self.try_lock(resource).await? {
            Claim::Granted(lease) => Ok(lease),
            Claim::Skipped => bail!("uncontended claim on {resource} was refused"),
        }
    }

    /// Claims a resource or learns at once that it is held.
    async fn try_lock(&mut self, resource: &str) -> anyhow::Result<Claim>;

    /// Releases a claim from [`Session::lock`], [`Session::try_lock`] or
    /// [`Session::acquire`].
    async fn unlock(&mut self, lease: &Lease) -> anyhow::Result<()>;

    /// Claims a resource with a lease of its own that [`Session::extend`]
    /// keeps alive (the heartbeat workload).
    async fn acquire(&mut self, resource: &str, ttl: Duration) -> anyhow::Result<Claim>;

    /// Moves a lease's expiry to now + `ttl`; an error if it was lost.
    async fn extend(&mut self, lease: &Lease, ttl: Duration) -> anyhow::Result<()>;

    /// Holds `[start_ms, end_ms)` on a calendar, atomically refusing an
    /// overlap with a live hold: `Some(hold id)` or `None` on a conflict.
    async fn create_hold(
        &mut self,
        calendar: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> anyhow::Result<Option<String>>;

    /// Releases a hold.
    async fn release_hold(&mut self, calendar: &str, hold_id: &str) -> anyhow::Result<()>;

    /// Claims every path of `paths` inside repository `repo` at once, or
    /// learns that one of them is held (workload 5): an Availsync working
    /// set (patterns, decided against every live one that may overlap),
    /// Redis keys set by one script, etcd keys put by one transaction (exact
    /// keys only: neither has patterns).
    async fn claim_paths(&mut self, repo: &str, paths: &[String]) -> anyhow::Result<Claim>;

    /// Releases a claim from [`Session::claim_paths`].
    async fn unlock_paths(&mut self, lease: &Lease) -> anyhow::Result<()>;
}

/// A running system.
#[async_trait]
pub trait System: Send + Sync {
    /// Its name in the tables.
    fn label(&self) -> String;
    /// How durable an acknowledged grant is.
    fn durability(&self) -> String;
    /// Root processes whose CPU time (with their children's) is the
    /// server's cost.
    fn cpu_pids(&self) -> Vec<u32>;
    /// Processes whose peak RSS is summed as the server's memory.
    fn rss_pids(&self) -> Vec<u32>;
    /// Whether a released resource leaves state behind (Availsync keeps
    /// a row for every protected resource; etcd's and Redis's
    /// released keys are gone), so the resource-count scaling must preload it.
    fn keeps_released_resources(&self) -> bool;
    /// Each server process's state and the end of its log, after a failure.
    fn diagnose(&mut self) -> String;
    /// The URL and an agent key to follow `GET /v1/events` with, on a
    /// system that has the event stream (Availsync).
    fn event_stream(&self) -> Option<(String, String)> {
        None
    }
    /// A new client connection; `client` numbers the simulated agent.
    async fn session(&self, client: usize) -> anyhow::Result<Box<dyn Session>>;
    /// Stops the server and deletes its data.
    async fn stop(self: Box<Self>) -> anyhow::Result<()>;
}

/// Which system to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// availsync-server on its embedded SQLite store.
    Availsync,
    /// availsync-server replicas sharing one PostgreSQL database.
    AvailsyncPostgres {
        /// How many replicas (clients are spread over them).
        replicas: usize,
    },
    /// etcd, one member.
    Etcd,
    /// Redis, one server.
    Redis,
}

impl Kind {
    /// A short name, as the `--systems` option spells it.
    pub fn name(&self) -> String {
        match self {
            Self::Availsync => "availsync".into(),
            Self::AvailsyncPostgres { replicas } => format!("availsync-pg{replicas}"),
            Self::Etcd => "etcd".into(),
            Self::Redis => "redis".into(),
        }
    }

    /// Parses a `--systems` entry.
    pub fn parse(name: &str) -> anyhow::Result<Self> {
        Ok(match name {
            "availsync" => Self::Availsync,
            "availsync-pg1" => Self::AvailsyncPostgres { replicas: 1 },
            "availsync-pg2" => Self::AvailsyncPostgres { replicas: 2 },
            "etcd" => Self::Etcd,
            "redis" => Self::Redis,
            other => bail!(
                "unknown system {other:?}: use availsync, availsync-pg1, availsync-pg2, etcd or redis"
            ),
        })
    }
}

/// Where the server binaries are and how to reach PostgreSQL.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// The availsync-server release binary.
    pub availsync: PathBuf,
    /// etcd.
    pub etcd: PathBuf,
    /// redis-server.
    pub redis: PathBuf,
    /// A PostgreSQL database for the availsync-pg systems.
    pub database_url: Option<String>,
    /// Its server's postmaster process, whose CPU (with its backends')
    /// then counts as the availsync-pg systems' server cost.
    pub database_pid: Option<u32>,
    /// A command prefix for availsync-server (e.g. valgrind), whitespace-split.
    pub server_wrapper: Vec<String>,
}

/// Starts a fresh `kind` ready for `clients` sessions.
pub async fn start(
    kind: &Kind,
    binaries: &Binaries,
    clients: usize,
) -> anyhow::Result<Box<dyn System>> {
    Ok(match kind {
        Kind::Availsync => Box::new(availsync::Availsync::start(binaries, clients, None).await?),
        Kind::AvailsyncPostgres { replicas } => {
            let Some(url) = &binaries.database_url else {
                bail!("{} needs --database-url", kind.name());
            };
            Box::new(
                availsync::Availsync::start(binaries, clients, Some((url.clone(), *replicas)))
                    .await?
                    .with_database_pid(binaries.database_pid),
            )
        }
        Kind::Etcd => Box::new(etcd::Etcd::start(&binaries.etcd).await?),
        Kind::Redis => Box::new(redis::Redis::start(&binaries.redis).await?),
    })
}
