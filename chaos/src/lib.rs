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
use availsync_sdk::types::{CreateRuleRequest, Plan};
use availsync_sdk::{AdminClient, Client, HoldsQuery, RetryPolicy, RunsQuery};
use futures::TryStreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::checker::{Rules, ServerState};
use crate::history::History;
use crate::proxy::{FaultProxy, FaultSettings};
use crate::report::Report;
use crate::server_process::{ChildStorage, ServerProcess};
use crate::workload::{Actor, Workload};

const EMAIL: &str = "soak@example.com";
const PASSWORD: &str = "chaos soak password";
/// The capacity pool's resource.
pub const POOL: &str = "pool:soak-gpu";

/// How the soak runs.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// How long clients run.
    pub duration: Duration,
    /// Agents racing for resources.
    pub agents: usize,
    /// Claimable resources.
    pub resources: usize,
    /// Share of agents' starts that ask for 2–3 resources at once.
    pub multi_rate: f64,
    /// Share of agents' starts that ask for the capacity pool alone.
    pub pool_rate: f64,
    /// Share of agents' starts that wait briefly instead of skipping.
    pub wait_rate: f64,
    /// Capacity of the pool (`pool:soak-gpu`, a rule the soak creates);
    /// 0 for no pool.
    pub pool_capacity: u32,
    /// Create a `depends_on` rule: the first resource depends on the
    /// second, so claiming it claims both.
    pub depends_on: bool,
    /// Judge the pool as if its capacity were this, not what the server
    /// was told: a smaller one shows the capacity checks are not vacuous.
    pub checker_pool_capacity: Option<u32>,
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
    /// A shared PostgreSQL database (the soak makes a schema of its own in
    /// it) instead of the embedded SQLite store.
    pub database_url: Option<String>,
    /// Server replicas (more than one needs `database_url`); each kill
    /// takes one of them down.
    pub replicas: usize,
    /// A shell command that restarts the database, run once half-way.
    pub restart_database: Option<String>,
}

/// The replicas, and where each listens.
struct Fleet {
    servers: Vec<ServerProcess>,
}

impl Fleet {
    fn addrs(&self) -> Vec<std::net::SocketAddr> {
        self.servers
            .iter()
            .filter_map(ServerProcess::addr)
            .collect()
    }
}

/// Runs the soak and judges it. An `Err` means the soak itself could not
/// run (the server would not start); violations are in the report.
pub async fn run_soak(config: &SoakConfig) -> anyhow::Result<Report> {
    let work_dir = tempfile::Builder::new()
        .prefix("availsync-chaos-")
        .tempdir()
        .context("create a work directory")?;
    if config.replicas > 1 && config.database_url.is_none() {
        anyhow::bail!("several replicas need a shared database (--database-url)");
    }
    let mut rng = StdRng::seed_from_u64(config.seed);
    let storage = match &config.database_url {
        Some(url) => ChildStorage::Postgres {
            url: url.clone(),
            schema: format!("soak_{}_{:08x}", config.seed, rng.random::<u32>()),
        },
        None => ChildStorage::Sqlite(work_dir.path().join("data")),
    };
    let mut fleet = Fleet {
        servers: Vec::new(),
    };
    for i in 0..config.replicas.max(1) {
        let log = work_dir.path().join(format!("server-{i}.log"));
        fleet
            .servers
            .push(ServerProcess::start(&config.server_exe, &storage, &log).await?);
    }

    // A workspace on a plan without limits, and one agent per client.
    let admin = AdminClient::new(&url(&fleet.servers[0])?)?;
    let signed_up = admin.signup(EMAIL, PASSWORD, "Chaos soak").await?;
    set_plan(&mut fleet, &storage, &signed_up.workspace.id).await?;
    let admin = signed_in(&fleet.servers[0]).await?;
    let resources: Vec<String> = (0..config.resources)
        .map(|i| format!("project:soak-{i}"))
        .collect();
    let pool = (config.pool_capacity > 0).then(|| POOL.to_owned());
    let mut rules = create_rules(&admin, config, &resources).await?;
    if let Some(capacity) = config.checker_pool_capacity
        && let Some(told) = rules.capacity.get_mut(POOL)
    {
        *told = capacity;
    }
    let proxy = FaultProxy::start(
        fleet.servers[0].addr().context("the server's address")?,
        config.faults,
        config.seed,
    )
    .await?;
    proxy.set_upstreams(fleet.addrs());
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
        resources,
        pool,
        multi_rate: config.multi_rate,
        pool_rate: config.pool_rate,
        wait_rate: config.wait_rate,
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

    // The chaos: kill a replica at random, bring it back after a pause;
    // restart the database once, half-way.
    let started = Instant::now();
    let deadline = started + config.duration;
    let mut kills = 0u32;
    let mut long_outages = 0u32;
    let mut database_restarts = 0u32;
    loop {
        let wait = random_between(&mut rng, config.kill_every);
        if Instant::now() + wait >= deadline {
            tokio::time::sleep_until(deadline.into()).await;
            break;
        }
        tokio::time::sleep(wait).await;
        if let Some(command) = &config.restart_database
            && database_restarts == 0
            && started.elapsed() >= config.duration / 2
        {
            restart_database(command).await?;
            database_restarts += 1;
            continue;
        }
        let victim = rng.random_range(0..fleet.servers.len());
        fleet.servers[victim].kill().await?;
        kills += 1;
        let downtime = if rng.random_bool(config.long_outage_rate.clamp(0.0, 1.0)) {
            long_outages += 1;
            config.ttl + Duration::from_secs(2)
        } else {
            random_between(&mut rng, (Duration::ZERO, config.max_downtime))
        };
        tokio::time::sleep(downtime).await;
        fleet.servers[victim].restart().await?;
        proxy.set_upstreams(fleet.addrs());
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

    // One last kill of every replica, then read back what survived.
    for server in &mut fleet.servers {
        server.kill().await?;
        kills += 1;
    }
    for server in &mut fleet.servers {
        server.restart().await?;
    }
    let server = &fleet.servers[0];
    let admin = signed_in(server).await?;
    let reader = admin.create_agent("soak-checker", None).await?;
    let reader = Client::builder()
        .base_url(url(server)?)
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
        rules: admin
            .rules()
            .await?
            .into_iter()
            .map(|rule| (rule.resource, (rule.capacity, rule.depends_on)))
            .collect(),
    };
    for server in fleet.servers {
        server.stop().await?;
    }

    let mut recorded = history.snapshot();
    recorded.grants = recorded_grants;
    recorded.holds = recorded_holds;
    let violations = checker::check(&recorded, &state, &rules);
    let kept = config.keep_data.then(|| work_dir.keep());
    Ok(Report {
        config: config.clone(),
        elapsed: client_seconds,
        kills,
        long_outages,
        database_restarts,
        counters: recorded.counters.clone(),
        grants_recorded: recorded.grants.len(),
        multi_grants_recorded: recorded.grants.iter().filter(|g| g.held.len() > 1).count(),
        holds_recorded: recorded.holds.len(),
        proxy: report::ProxyTally::read(proxy.stats()),
        server_runs: state.runs.len(),
        server_holds: state.holds.len(),
        violations,
        kept_data: kept,
    })
}

/// Creates the soak's rules before any client starts: the pool's capacity,
/// and the first resource depending on the second.
async fn create_rules(
    admin: &AdminClient,
    config: &SoakConfig,
    resources: &[String],
) -> anyhow::Result<Rules> {
    let mut rules = Rules::default();
    if config.pool_capacity > 0 {
        admin
            .create_rule(&CreateRuleRequest {
                resource: POOL.to_owned(),
                depends_on: None,
                capacity: Some(config.pool_capacity),
                mode: None,
                max_ttl_seconds: None,
                note: Some("chaos soak: a capacity pool".to_owned()),
            })
            .await
            .context("create the pool's rule")?;
        rules.capacity.insert(POOL.to_owned(), config.pool_capacity);
    }
    if config.depends_on
        && let [first, second, ..] = resources
    {
        admin
            .create_rule(&CreateRuleRequest {
                resource: first.clone(),
                depends_on: Some(vec![second.clone()]),
                capacity: None,
                mode: None,
                max_ttl_seconds: None,
                note: Some("chaos soak: claiming it claims its dependency".to_owned()),
            })
            .await
            .context("create the depends_on rule")?;
        rules.depends_on.insert(first.clone(), vec![second.clone()]);
    }
    Ok(rules)
}

/// Moves the workspace to the business plan, as the operator would: on
/// SQLite with the server stopped, on PostgreSQL beside the running replicas.
async fn set_plan(
    fleet: &mut Fleet,
    storage: &ChildStorage,
    workspace_id: &str,
) -> anyhow::Result<()> {
    let sqlite = matches!(storage, ChildStorage::Sqlite(_));
    if sqlite {
        for server in &mut fleet.servers {
            server.kill().await?;
        }
    }
    availsync_server::set_plan(&storage.server_config(), workspace_id, Plan::Business)
        .await
        .context("set the plan")?;
    if sqlite {
        for server in &mut fleet.servers {
            server.restart().await?;
        }
    }
    Ok(())
}

/// Runs the database restart command and waits for it.
async fn restart_database(command: &str) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .await
        .context("run the database restart command")?;
    anyhow::ensure!(
        status.success(),
        "the database restart command failed: {status}"
    );
    Ok(())
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
