//! The Availsync chaos soak.
//!
//! Agents claim resources through the SDK's run guard and hold makers book
//! calendar windows, all through a [fault-injecting proxy](proxy) that
//! delays, resets, half-opens and stalls connections, while the reference
//! server — a [child process](server_process) on a durable SQLite store — is
//! SIGKILLed and restarted at random intervals. Every client records what it
//! was told ([`history`]); after one last kill and restart the
//! [`checker`] compares that record, and the server's own, with the
//! guarantees, and the [`report`] prints the tally.
//!
//! Run it with `cargo run --release -p availsync-chaos -- soak --seconds 300`.

pub mod checker;
pub mod history;
pub mod proxy;
pub mod report;
pub mod server_process;
pub mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use availsync_sdk::types::Plan;
use availsync_sdk::{AdminClient, Client, HoldsQuery, RetryPolicy, RunsQuery};
use availsync_server::Clock;
use availsync_server::store::Store;
use availsync_server::store::sqlite::SqliteStore;
use futures::TryStreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::checker::ServerState;
use crate::history::History;
use crate::proxy::{FaultProxy, FaultSettings};
use crate::report::Report;
use crate::server_process::ServerProcess;
use crate::workload::{Actor, Workload};

const EMAIL: &str = "soak@example.com";
const PASSWORD: &str = "chaos soak password";

/// How the soak runs.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// How long clients run.
    pub duration: Duration,
    /// Agents racing for resources.
    pub agents: usize,
    /// Claimable resources.
    pub resources: usize,
    /// Clients booking calendar windows.
    pub hold_makers: usize,
    /// Calendars.
    pub calendars: usize,
    /// Lease TTL agents ask for (10 s is the SPEC's minimum).
    pub ttl: Duration,
    /// Shortest and longest wait between two server kills.
    pub kill_every: (Duration, Duration),
    /// Longest time the server stays down after a kill.
    pub max_downtime: Duration,
    /// Share of kills followed by an outage longer than the TTL, so leases
    /// lapse while their holders cannot reach the server.
    pub long_outage_rate: f64,
    /// Proxy faults.
    pub faults: FaultSettings,
    /// Seed of every random choice.
    pub seed: u64,
    /// The binary to run as `serve-child` (this one).
    pub server_exe: PathBuf,
    /// Keep the data directory and server log instead of deleting them.
    pub keep_data: bool,
}

/// Runs the soak and judges it. An `Err` means the soak itself could not
/// run (the server would not start); violations are in the report.
pub async fn run_soak(config: &SoakConfig) -> anyhow::Result<Report> {
    let work_dir = tempfile::Builder::new()
        .prefix("availsync-chaos-")
        .tempdir()
        .context("create a work directory")?;
    let data_dir = work_dir.path().join("data");
    let log = work_dir.path().join("server.log");
    let mut server = ServerProcess::start(&config.server_exe, &data_dir, &log).await?;
    let mut rng = StdRng::seed_from_u64(config.seed);

    // A workspace on a plan without limits, and one agent per client.
    let admin = AdminClient::new(&url(&server)?)?;
    let signed_up = admin.signup(EMAIL, PASSWORD, "Chaos soak").await?;
    server.kill().await?;
    let store = SqliteStore::open(&data_dir, Clock::system()).context("open the store")?;
    store
        .set_plan(&signed_up.workspace.id, Plan::Business)
        .await
        .context("set the plan")?;
    drop(store);
    server.restart().await?;
    let admin = signed_in(&server).await?;
    let upstream = server.addr().context("the server's address")?;
    let proxy = FaultProxy::start(upstream, config.faults, config.seed).await?;
    let proxy_url = format!("http://{}", proxy.addr());
    let mut actors = Vec::new();
    for i in 0..config.agents + config.hold_makers {
        let created = admin.create_agent(&format!("soak-{i}"), None).await?;
        let client = Client::builder()
            .base_url(&proxy_url)
            .api_key(created.api_key)
            .timeout(Duration::from_secs(2))
            .connect_timeout(Duration::from_secs(1))
            .retry_policy(RetryPolicy {
                max_attempts: 5,
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
            })
            .build()?;
        actors.push(Actor {
            agent_id: created.agent.id,
            client,
        });
    }

    let day_ms = 24 * 3600 * 1000;
    let workload = Arc::new(Workload {
        resources: (0..config.resources)
            .map(|i| format!("project:soak-{i}"))
            .collect(),
        calendars: (0..config.calendars)
            .map(|i| format!("calendar:room-{i}"))
            .collect(),
        ttl: config.ttl,
        max_work: config.ttl * 2,
        calendar_base_ms: (availsync_sdk::Timestamp::now().unix_millis() / day_ms + 1) * day_ms,
        seed: config.seed,
    });
    let history = Arc::new(History::default());
    let stop = CancellationToken::new();
    let mut agents = Vec::new();
    let mut hold_makers = Vec::new();
    for (i, actor) in actors.into_iter().enumerate() {
        let (workload, history, stop) = (Arc::clone(&workload), Arc::clone(&history), stop.clone());
        if i < config.agents {
            agents.push(tokio::spawn(workload::agent(
                i, actor, workload, history, stop,
            )));
        } else {
            hold_makers.push(tokio::spawn(workload::hold_maker(
                i, actor, workload, history, stop,
            )));
        }
    }

    // The chaos: kill the server at random, bring it back after a pause.
    let started = Instant::now();
    let deadline = started + config.duration;
    let mut kills = 0u32;
    let mut long_outages = 0u32;
    loop {
        let wait = random_between(&mut rng, config.kill_every);
        if Instant::now() + wait >= deadline {
            tokio::time::sleep_until(deadline.into()).await;
            break;
        }
        tokio::time::sleep(wait).await;
        server.kill().await?;
        kills += 1;
        let downtime = if rng.random_bool(config.long_outage_rate.clamp(0.0, 1.0)) {
            long_outages += 1;
            config.ttl + Duration::from_secs(2)
        } else {
            random_between(&mut rng, (Duration::ZERO, config.max_downtime))
        };
        tokio::time::sleep(downtime).await;
        proxy.set_upstream(server.restart().await?);
    }
    stop.cancel();
    proxy.set_faults_enabled(false);
    let mut recorded_grants = Vec::new();
    for task in agents {
        recorded_grants.extend(task.await.context("an agent task failed")?);
    }
    let mut recorded_holds = Vec::new();
    for task in hold_makers {
        recorded_holds.extend(task.await.context("a hold maker task failed")?);
    }
    let client_seconds = started.elapsed();

    // One last kill, then read back what survived.
    server.kill().await?;
    kills += 1;
    server.restart().await?;
    let admin = signed_in(&server).await?;
    let reader = admin.create_agent("soak-checker", None).await?;
    let reader = Client::builder()
        .base_url(url(&server)?)
        .api_key(reader.api_key)
        .build()?;
    let state = ServerState {
        runs: reader
            .runs(RunsQuery {
                limit: Some(200),
                ..RunsQuery::default()
            })
            .try_collect()
            .await?,
        holds: reader
            .holds(HoldsQuery {
                limit: Some(200),
                ..HoldsQuery::default()
            })
            .try_collect()
            .await?,
    };
    server.stop().await?;

    let mut recorded = history.snapshot();
    recorded.grants = recorded_grants;
    recorded.holds = recorded_holds;
    let violations = checker::check(&recorded, &state);
    let kept = config.keep_data.then(|| work_dir.keep());
    Ok(Report {
        config: config.clone(),
        elapsed: client_seconds,
        kills,
        long_outages,
        counters: recorded.counters.clone(),
        grants_recorded: recorded.grants.len(),
        holds_recorded: recorded.holds.len(),
        proxy: report::ProxyTally::read(proxy.stats()),
        server_runs: state.runs.len(),
        server_holds: state.holds.len(),
        violations,
        kept_data: kept,
    })
}

fn url(server: &ServerProcess) -> anyhow::Result<String> {
    Ok(format!(
        "http://{}",
        server.addr().context("the server is not running")?
    ))
}

async fn signed_in(server: &ServerProcess) -> anyhow::Result<AdminClient> {
    let admin = AdminClient::new(&url(server)?)?;
    admin.login(EMAIL, PASSWORD).await?;
    Ok(admin)
}

fn random_between(rng: &mut StdRng, (low, high): (Duration, Duration)) -> Duration {
    if high <= low {
        return low;
    }
    let span = u64::try_from((high - low).as_millis()).unwrap_or(u64::MAX);
    low + Duration::from_millis(rng.random_range(0..=span))
}

/// Reads a counter.
pub(crate) fn load(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
