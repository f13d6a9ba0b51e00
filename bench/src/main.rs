//! `availsync-bench`: the same coordination workloads against Availsync,
//! etcd and Redis (and Availsync on PostgreSQL), each server a fresh child
//! process per measurement, with latency percentiles, server CPU per
//! operation and peak RSS in markdown tables. `bench/run.sh` installs the
//! other servers and runs the full suite.

mod events;
mod measure;
mod process;
mod report;
mod systems;
mod waiting;
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;

use report::{Header, Row, Section};
use systems::{Binaries, Kind};
use workloads::{Window, Workload};

/// Benchmark Availsync side by side with etcd and Redis.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Short windows and small preloads: a smoke run of every table in a
    /// few minutes. Without it, the full run behind the README's figures.
    #[arg(long)]
    quick: bool,
    /// Systems, comma-separated: availsync, availsync-pg1, availsync-pg2,
    /// etcd, redis [default: availsync, etcd, redis, plus the PostgreSQL
    /// ones when --database-url is given].
    #[arg(long, value_delimiter = ',')]
    systems: Vec<String>,
    /// Sections, comma-separated: claim-finish, contended, heartbeat,
    /// holds, path-sets, clients, resources, waiting [default: all].
    /// `waiting` (bounded waiting, SPEC §13; Availsync systems only):
    /// grant latency (a waiter's `run/start` with `wait_seconds: 30` is
    /// answered how long after the holder's finish; on PostgreSQL ×2 at the
    /// other replica) and server memory with `--waiters` starts with
    /// `wait_seconds: 60` parked at once on one held resource, each on a
    /// connection of its own.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// A PostgreSQL database for the availsync-pg systems (each run gets a
    /// schema of its own).
    #[arg(long, env = "AVAILSYNC_BENCH_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The PostgreSQL server's postmaster pid: its CPU and its backends'
    /// then count as server CPU of the availsync-pg systems.
    #[arg(long, env = "AVAILSYNC_BENCH_DATABASE_PID")]
    database_pid: Option<u32>,
    /// The availsync-server binary [default: target/release/availsync-server].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// The etcd binary.
    #[arg(long, default_value = "etcd")]
    etcd_bin: PathBuf,
    /// The redis-server binary.
    #[arg(long, default_value = "redis-server")]
    redis_bin: PathBuf,
    /// Clients for the four workload tables.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Client counts of the scaling table.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 64, 256])]
    client_counts: Vec<usize>,
    /// Resource counts of the scaling table [default: 10,10000,1000000;
    /// quick: 10,1000,20000].
    #[arg(long, value_delimiter = ',')]
    resource_counts: Vec<usize>,
    /// Clients of the resource-count scaling (10 resources must go round).
    #[arg(long, default_value_t = 8)]
    resource_clients: usize,
    /// Live claims preloaded at the largest resource count [default: 10000; quick: 1000].
    #[arg(long)]
    live_claims: Option<usize>,
    /// Leases of the heartbeat workload [default: 10000; quick: 1000].
    #[arg(long)]
    heartbeat_leases: Option<usize>,
    /// Path-set claims held on one repository while workload 5 measures
    /// (each of `--paths-per-set` paths).
    #[arg(long, default_value_t = 1000)]
    path_set_claims: usize,
    /// Paths in each path set of workload 5 (half directories, half files).
    #[arg(long, default_value_t = 20)]
    paths_per_set: usize,
    /// Rounds of the four workload tables and the client scaling: within
    /// a round the systems take turns at each measurement, so a machine
    /// whose speed drifts over minutes slows them alike, and each table
    /// shows the round with the median throughput [default: 3; quick: 1].
    /// The resource scaling (minutes of preloading) runs once.
    #[arg(long)]
    rounds: Option<usize>,
    /// Measured seconds per run [default: 10; quick: 3].
    #[arg(long)]
    seconds: Option<f64>,
    /// Warm-up seconds per run, not measured [default: 2; quick: 1].
    #[arg(long)]
    warmup: Option<f64>,
    /// Grant-latency samples of the waiting section, per system
    /// [default: 200; quick: 50].
    #[arg(long)]
    grants: Option<usize>,
    /// Waiters parked at once for the waiting section's memory figure,
    /// each a connection (the bench raises its open-file limit to the hard
    /// limit) [default: 10000; quick: 2000].
    #[arg(long)]
    waiters: Option<usize>,
    /// Write the markdown report here too.
    #[arg(long)]
    out: Option<PathBuf>,
    /// A shell command run over each measured window, with {pid} (the first
    /// server process) and {seconds} filled in, e.g.
    /// 'perf record -g -p {pid} -o perf.data -- sleep {seconds}'.
    #[arg(long)]
    attach: Option<String>,
    /// A command prefix for availsync-server, e.g.
    /// 'valgrind --tool=callgrind --callgrind-out-file=cg.out'.
    #[arg(long)]
    server_wrapper: Option<String>,
}

const SECTIONS: [&str; 9] = [
    "claim-finish",
    "contended",
    "heartbeat",
    "holds",
    "path-sets",
    "clients",
    "resources",
    "events",
    "waiting",
];

/// Resources workload 1 spreads over in the workload and client tables.
const CLAIM_RESOURCES: usize = 10_000;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

struct Plan {
    kinds: Vec<Kind>,
    rounds: usize,
    sections: Vec<String>,
    window: Window,
    resource_counts: Vec<usize>,
    live_claims: usize,
    heartbeat_leases: usize,
    waiting: waiting::Settings,
}

fn plan(cli: &Cli) -> anyhow::Result<Plan> {
    let kinds = if cli.systems.is_empty() {
        let mut kinds = vec![Kind::Availsync, Kind::Etcd, Kind::Redis];
        if cli.database_url.is_some() {
            kinds.push(Kind::AvailsyncPostgres { replicas: 1 });
            kinds.push(Kind::AvailsyncPostgres { replicas: 2 });
        }
        kinds
    } else {
        cli.systems
            .iter()
            .map(|s| Kind::parse(s.trim()))
            .collect::<anyhow::Result<_>>()?
    };
    for section in &cli.only {
        if !SECTIONS.contains(&section.as_str()) {
            anyhow::bail!("unknown section {section:?}: use {}", SECTIONS.join(", "));
        }
    }
    let sections = if cli.only.is_empty() {
        SECTIONS.iter().map(|s| (*s).to_owned()).collect()
    } else {
        cli.only.clone()
    };
    let seconds = |value: Option<f64>, full: f64, quick: f64, name: &str| {
        let value = value.unwrap_or(if cli.quick { quick } else { full });
        Duration::try_from_secs_f64(value)
            .map_err(|_| anyhow::anyhow!("--{name} must be a number of seconds, got {value}"))
    };
    let window = Window {
        warmup: seconds(cli.warmup, 2.0, 1.0, "warmup")?,
        measured: seconds(cli.seconds, 10.0, 3.0, "seconds")?,
    };
    if window.measured.is_zero() {
        anyhow::bail!("--seconds must be above 0");
    }
    let resource_counts = if !cli.resource_counts.is_empty() {
        cli.resource_counts.clone()
    } else if cli.quick {
        vec![10, 1_000, 20_000]
    } else {
        vec![10, 10_000, 1_000_000]
    };
    let rounds = cli.rounds.unwrap_or(if cli.quick { 1 } else { 3 });
    if rounds == 0 {
        anyhow::bail!("--rounds must be at least 1");
    }
    Ok(Plan {
        kinds,
        rounds,
        sections,
        window,
        resource_counts,
        live_claims: cli
            .live_claims
            .unwrap_or(if cli.quick { 1_000 } else { 10_000 }),
        heartbeat_leases: cli
            .heartbeat_leases
            .unwrap_or(if cli.quick { 1_000 } else { 10_000 }),
        waiting: waiting::Settings {
            grants: cli
                .grants
                .unwrap_or(if cli.quick { 50 } else { 200 })
                .max(1),
            waiters: cli
                .waiters
                .unwrap_or(if cli.quick { 2_000 } else { 10_000 })
                .max(1),
        },
    })
}

/// One measurement to make.
struct Job {
    section: Section,
    /// Which round of its measurement (1-based).
    round: usize,
    kind: Kind,
    workload: Workload,
    clients: usize,
    resources: usize,
    preload: Option<(usize, usize)>,
}

/// What one measurement runs, whichever system it runs against.
struct Spec {
    section: Section,
    workload: Workload,
    clients: usize,
    resources: usize,
}

/// The measurements in the order they run: for each measurement of the
/// workload and client tables, `plan.rounds` rounds in which every system
/// takes its turn; then the resource scaling, system by system.
fn jobs(cli: &Cli, plan: &Plan) -> Vec<Job> {
    let mut jobs = Vec::new();
    for spec in specs(cli, plan) {
        for round in 1..=plan.rounds {
            for kind in &plan.kinds {
                jobs.push(Job {
                    section: spec.section,
                    round,
                    kind: kind.clone(),
                    workload: spec.workload.clone(),
                    clients: spec.clients,
                    resources: spec.resources,
                    preload: None,
                });
            }
        }
    }
    if plan.sections.iter().any(|s| s == "resources") {
        let largest = plan.resource_counts.iter().copied().max().unwrap_or(0);
        // Preloading a million resources through PostgreSQL replicas would
        // take most of the run: the resource scaling covers the default
        // store, etcd and Redis.
        for kind in plan
            .kinds
            .iter()
            .filter(|k| !matches!(k, Kind::AvailsyncPostgres { .. }))
        {
            for &resources in &plan.resource_counts {
                let live = if resources == largest {
                    plan.live_claims
                } else {
                    0
                };
                jobs.push(Job {
                    section: Section::Resources,
                    round: 1,
                    kind: kind.clone(),
                    workload: Workload::ClaimFinish { resources },
                    clients: cli.resource_clients.min(resources).max(1),
                    resources,
                    preload: Some((resources, live)),
                });
            }
        }
    }
    jobs
}

/// The measurements of the four workload tables and the client scaling.
fn specs(cli: &Cli, plan: &Plan) -> Vec<Spec> {
    let wants = |s: &str| plan.sections.iter().any(|x| x == s);
    let claim_finish = Workload::ClaimFinish {
        resources: CLAIM_RESOURCES,
    };
    let standard = [
        ("claim-finish", claim_finish.clone(), CLAIM_RESOURCES),
        (
            "contended",
            Workload::Contended {
                resources: 8,
                hold: Duration::from_millis(5),
            },
            8,
        ),
        (
            "heartbeat",
            Workload::Heartbeat {
                leases: plan.heartbeat_leases,
                ttl: Duration::from_secs(15),
            },
            plan.heartbeat_leases,
        ),
        (
            "holds",
            Workload::Holds {
                keep: 4,
                per_calendar: 16,
            },
            0,
        ),
        (
            "path-sets",
            Workload::PathSets {
                live: cli.path_set_claims,
                paths: cli.paths_per_set.max(1),
            },
            cli.path_set_claims,
        ),
    ];
    let mut specs = Vec::new();
    for (index, (name, workload, resources)) in standard.into_iter().enumerate() {
        if wants(name) {
            specs.push(Spec {
                section: Section::Workload(index + 1),
                workload,
                clients: cli.clients,
                resources,
            });
        }
    }
    if wants("clients") {
        for &clients in &cli.client_counts {
            // The workload table's run already covers its client count.
            if clients == cli.clients && wants("claim-finish") {
                continue;
            }
            specs.push(Spec {
                section: Section::Clients,
                workload: claim_finish.clone(),
                clients,
                resources: CLAIM_RESOURCES.max(clients),
            });
        }
    }
    specs
}

async fn describe_machine() -> Vec<String> {
    let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
    let cpuinfo = read("/proc/cpuinfo");
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown".into());
    let memory = read("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or("unknown".into(), |kib| {
            format!("{:.1} GiB", kib as f64 / 1_048_576.0)
        });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_owned();
    let filesystem = process::output(
        std::path::Path::new("findmnt"),
        &[
            "-n".into(),
            "-o".into(),
            "FSTYPE,SOURCE".into(),
            "--target".into(),
            std::env::temp_dir().display().to_string(),
        ],
    )
    .await
    .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" on "))
    .unwrap_or_else(|_| "unknown".into());
    vec![
        format!("{cores} cores (nproc), {model}, {memory} RAM"),
        format!(
            "Linux {kernel}; load average before the run: {}",
            read("/proc/loadavg")
                .split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        ),
        format!(
            "data directories in {} ({filesystem}); clients and servers share the cores",
            std::env::temp_dir().display()
        ),
    ]
}

async fn version_of(program: &std::path::Path, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    process::output(program, &args)
        .await
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .unwrap_or_else(|| "not found".into())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let plan = plan(&cli)?;
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let binaries = Binaries {
        availsync: cli
            .server_bin
            .clone()
            .unwrap_or_else(|| workspace.join("target/release/availsync-server")),
        etcd: cli.etcd_bin.clone(),
        redis: cli.redis_bin.clone(),
        database_url: cli.database_url.clone(),
        database_pid: cli.database_pid,
        server_wrapper: cli
            .server_wrapper
            .as_deref()
            .map(|w| w.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
    };
    if plan
        .kinds
        .iter()
        .any(|k| matches!(k, Kind::Availsync | Kind::AvailsyncPostgres { .. }))
        && !binaries.availsync.exists()
    {
        anyhow::bail!(
            "{} not found: build it first with `cargo build --release -p availsync-server`",
            binaries.availsync.display()
        );
    }

    let mut machine = describe_machine().await;
    let commit = process::output(
        std::path::Path::new("git"),
        &[
            "-C".into(),
            workspace.display().to_string(),
            "describe".into(),
            "--always".into(),
            "--dirty".into(),
        ],
    )
    .await
    .map(|s| s.trim().to_owned())
    .unwrap_or_else(|_| "unknown".into());
    machine.push(format!(
        "availsync-server at {commit}; {}; {}",
        version_of(&binaries.etcd, &["--version"]).await,
        version_of(&binaries.redis, &["--version"]).await
    ));
    let command = std::iter::once("cargo run --release -p availsync-bench --".to_owned())
        .chain(std::env::args().skip(1).map(|a| {
            if a.contains(' ') || a.contains('{') {
                format!("'{a}'")
            } else {
                a
            }
        }))
        .collect::<Vec<_>>()
        .join(" ");
    let settings = vec![
        format!(
            "each run: a fresh server, {:.0} s warm-up (not counted), then {:.0} s measured; client tasks on one tokio runtime in this process, each with its own connection",
            plan.window.warmup.as_secs_f64(),
            plan.window.measured.as_secs_f64()
        ),
        format!(
            "rounds: {}; within a round the systems take turns at each measurement of the workload and client tables, and each row is the round with the median throughput (every round's figure in the \"rounds\" column); the resource scaling runs once",
            plan.rounds
        ),
        "CPU: user + system seconds of the server processes (and their children) over the measured window, from /proc/<pid>/stat; client CPU: this process".into(),
        "peak RSS: VmHWM of the server processes at the end of the run (for PostgreSQL: the availsync replicas only; their CPU includes PostgreSQL's when --database-pid is given, as bench/run.sh does)".into(),
        "latency percentiles from HdrHistogram (3 significant digits), in milliseconds".into(),
        "other load: cores' worth of CPU used during the window by processes that are neither the servers nor the bench (the machine is shared; above ~0.2 the run competed for the cores)".into(),
    ];
    let header = Header {
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        command,
        machine,
        settings,
    };

    let jobs = jobs(&cli, &plan);
    eprintln!("{} measurements", jobs.len());
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (n, job) in jobs.iter().enumerate() {
        let sessions_needed = job.clients.max(if job.preload.is_some() { 64 } else { 0 });
        eprintln!(
            "[{}/{}] {} · {} · {} clients{}{}",
            n + 1,
            jobs.len(),
            job.kind.name(),
            job.workload.title(),
            job.clients,
            match job.preload {
                Some((resources, live)) => format!(" · {resources} resources, {live} live claims"),
                None => String::new(),
            },
            if plan.rounds > 1 && job.preload.is_none() {
                format!(" · round {} of {}", job.round, plan.rounds)
            } else {
                String::new()
            }
        );
        let mut system = match systems::start(&job.kind, &binaries, sessions_needed).await {
            Ok(system) => system,
            Err(e) => {
                let e = format!("{:#}", e.context(format!("start {}", job.kind.name())));
                eprintln!("    failed: {e}");
                failures.push(format!(
                    "{} · {}: {e}",
                    job.kind.name(),
                    job.workload.title()
                ));
                continue;
            }
        };
        let measured = async {
            let preload = match job.preload {
                Some((resources, live)) => {
                    Some(workloads::preload(system.as_ref(), resources, live, 64).await?)
                }
                None => None,
            };
            let outcome = workloads::run(
                system.as_ref(),
                &job.workload,
                job.clients,
                plan.window,
                cli.attach.as_deref(),
            )
            .await?;
            anyhow::Ok((preload, outcome))
        }
        .await;
        let label = system.label();
        let durability = system.durability();
        if measured.is_err() {
            eprintln!("    {}", system.diagnose().replace('\n', "\n    "));
        }
        if let Err(e) = system.stop().await {
            eprintln!("    stopping {} failed: {e:#}", job.kind.name());
        }
        let (preload, outcome) = match measured {
            Ok(measured) => measured,
            Err(e) => {
                eprintln!("    failed: {e:#}");
                failures.push(format!(
                    "{} · {} · {} clients: {e:#}",
                    job.kind.name(),
                    job.workload.title(),
                    job.clients
                ));
                continue;
            }
        };
        eprintln!(
            "    {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, server CPU {:.3} s/1k ops, peak RSS {:.1} MiB, {} errors{}",
            outcome.ops_per_second(),
            outcome.record.percentile_ms(0.5),
            outcome.record.percentile_ms(0.99),
            outcome.cpu_per_1k(),
            outcome.server.peak_rss_kib as f64 / 1024.0,
            outcome.errors,
            outcome
                .first_error
                .as_deref()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        );
        rows.push(Row {
            section: job.section,
            round: job.round,
            rounds: Vec::new(),
            system: job.kind.name(),
            label,
            durability,
            workload: job.workload.title().to_owned(),
            unit: job.workload.unit().to_owned(),
            clients: job.clients,
            resources: job.resources,
            live_claims: job.preload.map_or(0, |(_, live)| live),
            preload,
            outcome,
        });
        // Written after every measurement, so that an interrupted run
        // still leaves what it measured.
        if let Some(path) = &cli.out {
            write_report(path, &report::render(&header, &rows, "", &failures))?;
        }
    }
    let mut waiting_rows = Vec::new();
    if plan.sections.iter().any(|s| s == "waiting") {
        let settings = plan.waiting;
        let limit = waiting::raise_open_file_limit();
        for kind in &plan.kinds {
            if !waiting::applies_to(kind) {
                eprintln!(
                    "[waiting] {}: left out (the waiting section measures Availsync only)",
                    kind.name()
                );
                continue;
            }
            if let Some(limit) = limit
                && limit < settings.waiters as u64 + 256
            {
                let e = format!(
                    "the open-file limit ({limit}) is too low for {} waiters: raise the hard limit or lower --waiters",
                    settings.waiters
                );
                eprintln!("[waiting] {}: {e}", kind.name());
                failures.push(format!("{} · waiting: {e}", kind.name()));
                continue;
            }
            eprintln!(
                "[waiting] {} · grant latency ×{} · {} waiters",
                kind.name(),
                settings.grants,
                settings.waiters
            );
            let row = waiting::measure(kind, &binaries, settings).await;
            match &row.grant {
                Ok(g) => eprintln!(
                    "    grant latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples, {} not queued)",
                    g.percentile(0.5),
                    g.percentile(0.99),
                    g.percentile(1.0),
                    g.samples.len(),
                    g.not_queued
                ),
                Err(e) => {
                    eprintln!("    grant latency failed: {e}");
                    failures.push(format!("{} · waiting, grant latency: {e}", kind.name()));
                }
            }
            match &row.memory {
                Ok(m) => eprintln!(
                    "    {} waiters: {}; at the last read RSS +{:.1} MiB with {} waiting; answers: {} skip at the deadline, {} 503, {} other, {} none{}",
                    m.waiters,
                    match (m.clean, m.clean_kib_per_waiter()) {
                        (Some(c), Some(kib)) =>
                            format!("{} parked before any answer, {kib:.2} KiB each", c.waiters),
                        _ => "never all parked with none answered".to_owned(),
                    },
                    m.more_kib() as f64 / 1024.0,
                    m.waiting_at_read,
                    m.waited_out,
                    m.unavailable,
                    m.other_answers,
                    m.failed,
                    m.first_error
                        .as_deref()
                        .map(|e| format!(" (first: {e})"))
                        .unwrap_or_default()
                ),
                Err(e) => {
                    eprintln!("    waiter memory failed: {e}");
                    failures.push(format!("{} · waiting, memory: {e}", kind.name()));
                }
            }
            waiting_rows.push(row);
            if let Some(path) = &cli.out {
                let table = waiting::table(&waiting_rows, settings);
                write_report(path, &report::render(&header, &rows, &table, &failures))?;
            }
        }
    }
    let table = waiting::table(&waiting_rows, plan.waiting);
    let mut markdown = report::render(&header, &rows, &table, &failures);
    if plan.sections.iter().any(|s| s == "events") {
        markdown.push_str(&events::section(&plan.kinds, &binaries, cli.clients, plan.window).await);
    }
    println!("{markdown}");
    if let Some(path) = &cli.out {
        write_report(path, &markdown)?;
        eprintln!("report written to {}", path.display());
    }
    if !failures.is_empty() {
        anyhow::bail!("{} measurement(s) failed", failures.len());
    }
    Ok(())
}

fn write_report(path: &std::path::Path, markdown: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(path, markdown).with_context(|| format!("write {}", path.display()))
}
