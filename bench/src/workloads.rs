//! The four workloads of issue 10, each run by C client tasks for a warm-up
//! and then a measured window, against any [`System`].
//!
//! Only operations that start inside the measured window are counted; the
//! server's CPU time is read at the window's two ends.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{Barrier, watch};
use tokio::time::Instant;

use crate::measure::{self, Recorder, ServerCost};
use crate::systems::{Claim, Session, System};

/// A workload and its shape.
#[derive(Debug, Clone)]
pub enum Workload {
    /// Workload 1: Uncontended claim → finish cycles; client `i` cycles over
    /// resources `i, i + C, i + 2C, …` below `resources`, so no two clients
    /// ever want the same one.
    ClaimFinish {
        /// How many distinct resources the cycles spread over.
        resources: usize,
    },
    /// Workload 2: Every client claims a random one of a few resources without
    /// waiting; a granted claim is held for `hold`, then released. Both
    /// grants and skips are counted as decisions.
    Contended {
        /// How many resources all clients fight over.
        resources: usize,
        /// How long a winner works before releasing.
        hold: Duration,
    },
    /// Workload 3: `leases` claims are taken first (not measured, with
    /// [`PRELOAD_TTL`]), then each is extended to `ttl` every `ttl / 3` on a
    /// fixed schedule spread evenly over time; latency counts from the
    /// scheduled instant, so a server that falls behind shows it.
    Heartbeat {
        /// Live leases across all clients.
        leases: usize,
        /// Their TTL.
        ttl: Duration,
    },
    /// Workload 4: Holds of one hour at half-hour starts over a seven-day horizon
    /// on `clients × keep / per_calendar` calendars. Each client keeps its
    /// last `keep` holds and releases the oldest beyond that, so about
    /// `per_calendar` holds are live on each calendar and roughly one
    /// create in eight meets an overlap.
    Holds {
        /// Holds each client keeps live.
        keep: usize,
        /// Target live holds per calendar.
        per_calendar: usize,
    },
    /// Workload 5: `live` path sets of `paths` paths each are claimed on
    /// one repository first (not measured, held throughout); then every
    /// client claims a fresh set of `paths` paths on it (disjoint from all
    /// others) and releases it. On Availsync a set is a working set, half
    /// directories (`d/`), half files, decided against every live pattern
    /// that may overlap; Redis and etcd claim the same strings as exact keys.
    PathSets {
        /// Path sets held while measuring.
        live: usize,
        /// Paths per set.
        paths: usize,
    },
}

impl Workload {
    /// Short name in tables.
    pub fn title(&self) -> &'static str {
        match self {
            Self::ClaimFinish { .. } => "1. claim → finish, uncontended",
            Self::Contended { .. } => "2. contended claims",
            Self::Heartbeat { .. } => "3. heartbeats",
            Self::Holds { .. } => "4. holds on calendars",
            Self::PathSets { .. } => "5. path sets on one repository",
        }
    }

    /// What one operation is.
    pub fn unit(&self) -> &'static str {
        match self {
            Self::ClaimFinish { .. } => "claim+finish cycle",
            Self::Contended { .. } => "claim decision (grant or skip)",
            Self::Heartbeat { .. } => "extend",
            Self::Holds { .. } => "hold create or release",
            Self::PathSets { .. } => "path-set claim+release cycle",
        }
    }
}

/// Warm-up and measured durations.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Run but not counted.
    pub warmup: Duration,
    /// Counted.
    pub measured: Duration,
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Merged record of all clients.
    pub record: Recorder,
    /// The measured window, in seconds.
    pub seconds: f64,
    /// Server CPU in the window and RSS.
    pub server: ServerCost,
    /// CPU seconds of the bench process (all clients) in the window.
    pub client_cpu_seconds: f64,
    /// CPU seconds of everything else on the machine in the window (other
    /// users' work competing for the cores).
    pub other_cpu_seconds: f64,
    /// Failed operations (any error but a refusal).
    pub errors: u64,
    /// The first failure's message.
    pub first_error: Option<String>,
    /// Heartbeats: the scheduled extends per second.
    pub target_rate: Option<f64>,
}

impl Outcome {
    /// Operations per second in the window.
    pub fn ops_per_second(&self) -> f64 {
        self.record.ops as f64 / self.seconds
    }

    /// Server CPU seconds per 1,000 operations.
    pub fn cpu_per_1k(&self) -> f64 {
        if self.record.ops == 0 {
            return f64::NAN;
        }
        self.server.cpu_seconds * 1000.0 / self.record.ops as f64
    }

    /// Cores' worth of CPU used by other processes during the window.
    pub fn other_load(&self) -> f64 {
        self.other_cpu_seconds / self.seconds
    }

    /// Client CPU seconds per 1,000 operations.
    pub fn client_cpu_per_1k(&self) -> f64 {
        if self.record.ops == 0 {
            return f64::NAN;
        }
        self.client_cpu_seconds * 1000.0 / self.record.ops as f64
    }
}

/// The repository workload 5 claims paths in.
const PATH_SET_REPO: &str = "monorepo";

/// Path set `name`: `paths` paths under `name/`, half directories, half
/// files.
fn path_set(name: &str, paths: usize) -> Vec<String> {
    (0..paths)
        .map(|j| {
            if j % 2 == 0 {
                format!("{name}/d{j}/")
            } else {
                format!("{name}/f{j}.rs")
            }
        })
        .collect()
}

/// The resource name shared by the claim workloads and the preload.
pub fn resource_name(index: usize) -> String {
    format!("r{index}")
}

struct Clock {
    warm_end: Instant,
    end: Instant,
}

#[derive(Default)]
struct TaskResult {
    record: Recorder,
    errors: u64,
    first_error: Option<String>,
}

impl TaskResult {
    fn fail(&mut self, error: anyhow::Error) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(format!("{error:#}"));
        }
    }
}

/// Runs `workload` with `clients` tasks. `attach` is a shell command run
/// over the measured window (`{pid}` and `{seconds}` are filled in), e.g. a
/// profiler attaching to the server.
pub async fn run(
    system: &dyn System,
    workload: &Workload,
    clients: usize,
    window: Window,
    attach: Option<&str>,
) -> anyhow::Result<Outcome> {
    if clients == 0 {
        bail!("at least one client is needed");
    }
    if let Workload::ClaimFinish { resources } = workload
        && *resources < clients
    {
        bail!(
            "uncontended claims need at least as many resources ({resources}) as clients ({clients})"
        );
    }
    let sessions = futures::future::try_join_all((0..clients).map(|i| system.session(i)))
        .await
        .context("open client sessions")?;
    let barrier = Arc::new(Barrier::new(clients + 1));
    let (start_tx, start_rx) = watch::channel::<Option<Instant>>(None);
    let mut tasks = Vec::with_capacity(clients);
    for (client, session) in sessions.into_iter().enumerate() {
        let workload = workload.clone();
        let barrier = Arc::clone(&barrier);
        let mut start_rx = start_rx.clone();
        tasks.push(tokio::spawn(async move {
            let mut session = session;
            let mut result = TaskResult::default();
            let prepared = prepare(&workload, session.as_mut(), client, clients).await;
            barrier.wait().await;
            let t0 = match start_rx.wait_for(Option::is_some).await {
                Ok(t0) => t0.unwrap_or_else(Instant::now),
                Err(_) => return result,
            };
            let clock = Clock {
                warm_end: t0 + window.warmup,
                end: t0 + window.warmup + window.measured,
            };
            match prepared {
                Ok(leases) => {
                    drive(
                        &workload,
                        session.as_mut(),
                        client,
                        clients,
                        &clock,
                        t0,
                        leases,
                        &mut result,
                    )
                    .await
                }
                Err(e) => result.fail(e.context("prepare")),
            }
            result
        }));
    }
    barrier.wait().await;
    let t0 = Instant::now();
    start_tx.send_replace(Some(t0));
    let warm_end = t0 + window.warmup;
    let end = warm_end + window.measured;

    tokio::time::sleep_until(warm_end).await;
    let cpu_pids = system.cpu_pids();
    let cpu_start = measure::tree_cpu_seconds(&cpu_pids)?;
    let own_start = measure::own_cpu_seconds();
    let machine_start = measure::machine_busy_seconds();
    let window_start = Instant::now();
    let profiler = match attach {
        Some(command) => {
            let command = command
                .replace("{pid}", &cpu_pids.first().copied().unwrap_or(0).to_string())
                .replace("{seconds}", &window.measured.as_secs().to_string());
            Some(
                tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(&command)
                    .spawn()
                    .with_context(|| format!("run {command}"))?,
            )
        }
        None => None,
    };
    tokio::time::sleep_until(end).await;
    let cpu_end = measure::tree_cpu_seconds(&cpu_pids)?;
    let own_end = measure::own_cpu_seconds();
    let machine_end = measure::machine_busy_seconds();
    let seconds = window_start.elapsed().as_secs_f64();

    let mut record = Recorder::new();
    let mut errors = 0;
    let mut first_error = None;
    for task in tasks {
        let result = task.await.context("a client task panicked")?;
        record.merge(&result.record);
        errors += result.errors;
        if first_error.is_none() {
            first_error = result.first_error;
        }
    }
    if let Some(mut profiler) = profiler {
        let _ = tokio::time::timeout(Duration::from_secs(120), profiler.wait()).await;
    }
    let rss_pids = system.rss_pids();
    Ok(Outcome {
        record,
        seconds,
        server: ServerCost {
            cpu_seconds: cpu_end - cpu_start,
            peak_rss_kib: measure::peak_rss_kib(&rss_pids),
            rss_kib: measure::rss_kib(&rss_pids),
        },
        client_cpu_seconds: own_end - own_start,
        other_cpu_seconds: ((machine_end - machine_start)
            - (cpu_end - cpu_start)
            - (own_end - own_start))
            .max(0.0),
        errors,
        first_error,
        target_rate: match workload {
            Workload::Heartbeat { leases, ttl } => Some(*leases as f64 / (ttl.as_secs_f64() / 3.0)),
            _ => None,
        },
    })
}

/// How long the heartbeat leases are taken for before the measured extends
/// start. Taking 10,000 leases can outlast their 15 s TTL on a slow system;
/// with the TTL itself the first ones then lapse before their first extend
/// and count as errors of the extends, which they are not. The first
/// measured extend of each lease brings it down to the workload's TTL.
const PRELOAD_TTL: Duration = Duration::from_secs(3600);

/// Heartbeats: the client's share of the leases, taken before the clock starts.
async fn prepare(
    workload: &Workload,
    session: &mut dyn Session,
    client: usize,
    clients: usize,
) -> anyhow::Result<Vec<(usize, crate::systems::Lease)>> {
    if let Workload::PathSets { live, paths } = workload {
        let mut held = Vec::new();
        for index in (client..*live).step_by(clients) {
            let set = path_set(&format!("live{index}"), *paths);
            match session.claim_paths(PATH_SET_REPO, &set).await? {
                Claim::Granted(lease) => held.push((index, lease)),
                Claim::Skipped => bail!("path set live{index} was refused"),
            }
        }
        return Ok(held);
    }
    let Workload::Heartbeat { leases, .. } = workload else {
        return Ok(Vec::new());
    };
    let mut held = Vec::new();
    for index in (client..*leases).step_by(clients) {
        match session.acquire(&format!("hb{index}"), PRELOAD_TTL).await? {
            Claim::Granted(lease) => held.push((index, lease)),
            Claim::Skipped => bail!("heartbeat lease hb{index} was refused"),
        }
    }
    Ok(held)
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    workload: &Workload,
    session: &mut dyn Session,
    client: usize,
    clients: usize,
    clock: &Clock,
    t0: Instant,
    leases: Vec<(usize, crate::systems::Lease)>,
    result: &mut TaskResult,
) {
    let mut rng = StdRng::seed_from_u64(0x5eed ^ client as u64);
    match workload {
        Workload::ClaimFinish { resources } => {
            let mine: Vec<String> = (client..*resources)
                .step_by(clients)
                .map(resource_name)
                .collect();
            // Start at a random place so that clients do not all begin with
            // freshly created resources.
            let mut next = rng.random_range(0..mine.len());
            while Instant::now() < clock.end {
                let resource = &mine[next % mine.len()];
                next += 1;
                let started = Instant::now();
                let cycle = async {
                    let lease = session.lock(resource).await?;
                    session.unlock(&lease).await
                };
                match cycle.await {
                    Ok(()) if started >= clock.warm_end => {
                        result.record.record(started.elapsed());
                        result.record.granted += 1;
                    }
                    Ok(()) => {}
                    Err(e) => result.fail(e),
                }
            }
        }
        Workload::Contended { resources, hold } => {
            while Instant::now() < clock.end {
                let resource = resource_name(rng.random_range(0..*resources));
                let started = Instant::now();
                let counted = started >= clock.warm_end;
                match session.try_lock(&resource).await {
                    Ok(Claim::Granted(lease)) => {
                        if counted {
                            result.record.record(started.elapsed());
                            result.record.granted += 1;
                        }
                        tokio::time::sleep(*hold).await;
                        if let Err(e) = session.unlock(&lease).await {
                            result.fail(e);
                        }
                    }
                    Ok(Claim::Skipped) => {
                        if counted {
                            result.record.record(started.elapsed());
                            result.record.refused += 1;
                        }
                    }
                    Err(e) => result.fail(e),
                }
            }
        }
        Workload::Heartbeat { leases: total, ttl } => {
            let period = *ttl / 3;
            let mut round = 0u32;
            'rounds: loop {
                for (index, lease) in &leases {
                    // Lease k of n is due at k/n of the way through each period.
                    let offset = period.mul_f64(*index as f64 / *total as f64);
                    let due = t0 + offset + period * round;
                    if due >= clock.end {
                        break 'rounds;
                    }
                    tokio::time::sleep_until(due).await;
                    match session.extend(lease, *ttl).await {
                        Ok(()) if due >= clock.warm_end => {
                            result.record.record(due.elapsed());
                            result.record.granted += 1;
                        }
                        Ok(()) => {}
                        Err(e) => result.fail(e),
                    }
                }
                round += 1;
            }
        }
        Workload::PathSets { paths, .. } => {
            // The preloaded sets stay held until the system stops.
            let _held = leases;
            let mut iteration = 0u64;
            while Instant::now() < clock.end {
                iteration += 1;
                let set = path_set(&format!("c{client}/{iteration}"), *paths);
                let started = Instant::now();
                let cycle = async {
                    match session.claim_paths(PATH_SET_REPO, &set).await? {
                        Claim::Granted(lease) => session.unlock_paths(&lease).await,
                        Claim::Skipped => bail!("a path set nobody else holds was refused"),
                    }
                };
                match cycle.await {
                    Ok(()) if started >= clock.warm_end => {
                        result.record.record(started.elapsed());
                        result.record.granted += 1;
                    }
                    Ok(()) => {}
                    Err(e) => result.fail(e),
                }
            }
        }
        Workload::Holds { keep, per_calendar } => {
            let calendars = (clients * keep).div_ceil(*per_calendar).max(1);
            let base = horizon_start();
            let mut mine: VecDeque<(String, String)> = VecDeque::new();
            while Instant::now() < clock.end {
                let calendar = format!("team-{}", rng.random_range(0..calendars));
                // 336 half-hour starts in a week; a hold spans two of them.
                let slot = rng.random_range(0..335i64);
                let start = base + slot * HALF_HOUR_MS;
                let started = Instant::now();
                let counted = started >= clock.warm_end;
                match session
                    .create_hold(&calendar, start, start + 2 * HALF_HOUR_MS)
                    .await
                {
                    Ok(Some(hold)) => {
                        if counted {
                            result.record.record(started.elapsed());
                            result.record.granted += 1;
                        }
                        mine.push_back((calendar, hold));
                    }
                    Ok(None) => {
                        if counted {
                            result.record.record(started.elapsed());
                            result.record.refused += 1;
                        }
                    }
                    Err(e) => result.fail(e),
                }
                if mine.len() > *keep
                    && let Some((calendar, hold)) = mine.pop_front()
                {
                    let started = Instant::now();
                    match session.release_hold(&calendar, &hold).await {
                        Ok(()) if started >= clock.warm_end => {
                            result.record.record(started.elapsed());
                        }
                        Ok(()) => {}
                        Err(e) => result.fail(e),
                    }
                }
            }
        }
    }
}

const HALF_HOUR_MS: i64 = 30 * 60 * 1000;

/// Midnight UTC, two days from now: every window is in the future.
fn horizon_start() -> i64 {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let now = chrono::Utc::now().timestamp_millis();
    (now / DAY_MS + 2) * DAY_MS
}

/// Before a resource-count measurement: claims and releases `protected`
/// resources once (only for systems that keep released resources), and
/// takes `live` claims that stay held for an hour. Returns how long it took.
pub async fn preload(
    system: &dyn System,
    protected: usize,
    live: usize,
    concurrency: usize,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let protected = if system.keeps_released_resources() {
        protected
    } else {
        0
    };
    let sessions = futures::future::try_join_all((0..concurrency).map(|i| system.session(i)))
        .await
        .context("open preload sessions")?;
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (task, mut session) in sessions.into_iter().enumerate() {
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            for index in (task..protected).step_by(concurrency) {
                let lease = session.lock(&resource_name(index)).await?;
                session.unlock(&lease).await?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n.is_multiple_of(100_000) {
                    eprintln!("    preloaded {n} protected resources");
                }
            }
            for index in (task..live).step_by(concurrency) {
                match session
                    .acquire(&format!("live{index}"), Duration::from_secs(3600))
                    .await?
                {
                    Claim::Granted(_) => {}
                    Claim::Skipped => bail!("live claim live{index} was refused"),
                }
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await.context("a preload task panicked")??;
    }
    Ok(started.elapsed())
}
