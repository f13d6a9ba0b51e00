//! `availsync-chaos`: the chaos soak, and the server child it kills.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use availsync_chaos::proxy::FaultSettings;
use availsync_chaos::server_process::{self, ChildStorage};
use availsync_chaos::{SoakConfig, run_soak};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Chaos soak for Availsync.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run agents and hold makers through a faulty proxy while the server is
    /// killed and restarted; check every guarantee; exit 1 on a violation.
    Soak(SoakArgs),
    /// (internal) Serve a data directory on a free port until killed.
    #[command(hide = true)]
    ServeChild {
        /// The data directory (SQLite).
        #[arg(long, required_unless_present = "database_url")]
        data_dir: Option<PathBuf>,
        /// A PostgreSQL database.
        #[arg(long, requires = "database_schema")]
        database_url: Option<String>,
        /// Its schema.
        #[arg(long)]
        database_schema: Option<String>,
    },
}

#[derive(clap::Args)]
struct SoakArgs {
    /// How long clients run, in seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Agents racing for resources.
    #[arg(long, default_value_t = 12)]
    agents: usize,
    /// Claimable resources.
    #[arg(long, default_value_t = 6)]
    resources: usize,
    /// Share of agents' starts that ask for 2–3 resources at once (0 to 1).
    #[arg(long, default_value_t = 0.4)]
    multi_rate: f64,
    /// Share of agents' starts that ask for the capacity pool alone (0 to 1).
    #[arg(long, default_value_t = 0.2)]
    pool_rate: f64,
    /// Share of agents' starts that wait up to 0.5–3 s for what they ask
    /// for instead of skipping at once (SPEC §13; 0 to 1).
    #[arg(long, default_value_t = 0.25)]
    wait_rate: f64,
    /// Capacity of the pool the soak creates a rule for (0: no pool).
    #[arg(long, default_value_t = 3)]
    pool_capacity: u32,
    /// Do not create the `depends_on` rule (the first resource depends on
    /// the second).
    #[arg(long)]
    no_depends_on: bool,
    /// (testing the checker) Judge the pool as if its capacity were this,
    /// whatever the server was told: a smaller one must be caught.
    #[arg(long, hide = true)]
    checker_pool_capacity: Option<u32>,
    /// Clients booking calendar windows.
    #[arg(long, default_value_t = 3)]
    hold_makers: usize,
    /// Calendars.
    #[arg(long, default_value_t = 2)]
    calendars: usize,
    /// Lease TTL agents ask for, in seconds (10 to 3600).
    #[arg(long, default_value_t = 10)]
    ttl: u64,
    /// Shortest wait between server kills, in seconds.
    #[arg(long, default_value_t = 3.0)]
    kill_min: f64,
    /// Longest wait between server kills, in seconds.
    #[arg(long, default_value_t = 12.0)]
    kill_max: f64,
    /// Longest the server stays down after a kill, in seconds.
    #[arg(long, default_value_t = 1.5)]
    max_downtime: f64,
    /// Share of kills followed by an outage longer than the TTL (0 to 1).
    #[arg(long, default_value_t = 0.15)]
    long_outage_rate: f64,
    /// Share of proxied exchanges (request and answer) that get a fault (0 to 1).
    #[arg(long, default_value_t = 0.15)]
    fault_rate: f64,
    /// Seed of every random choice [default: from the clock].
    #[arg(long)]
    seed: Option<u64>,
    /// Keep the data directory and the server log.
    #[arg(long)]
    keep_data: bool,
    /// Run the servers on this PostgreSQL database (in a fresh schema)
    /// instead of SQLite.
    #[arg(long, env = "AVAILSYNC_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// Server replicas sharing the database (needs --database-url).
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// A shell command that restarts the database; run once, half-way.
    #[arg(long)]
    restart_database: Option<String>,
}

fn seconds(value: f64, name: &str) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        anyhow::anyhow!("--{name} must be a non-negative number of seconds, got {value}")
    })
}

fn soak_config(args: SoakArgs) -> anyhow::Result<SoakConfig> {
    for (name, rate) in [
        ("fault-rate", args.fault_rate),
        ("long-outage-rate", args.long_outage_rate),
        ("multi-rate", args.multi_rate),
        ("pool-rate", args.pool_rate),
        ("wait-rate", args.wait_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            anyhow::bail!("--{name} must be between 0 and 1, got {rate}");
        }
    }
    if args.multi_rate + args.pool_rate > 1.0 {
        anyhow::bail!("--multi-rate and --pool-rate together must be at most 1");
    }
    if args.pool_capacity > 1000 {
        anyhow::bail!("--pool-capacity must be at most 1000 (SPEC §11)");
    }
    if !(10..=3600).contains(&args.ttl) {
        anyhow::bail!(
            "--ttl must be between 10 and 3600 seconds, got {}",
            args.ttl
        );
    }
    if args.replicas > 1 && args.database_url.is_none() {
        anyhow::bail!(
            "--replicas {} needs --database-url: replicas share one database",
            args.replicas
        );
    }
    if args.agents == 0 || args.resources == 0 || args.calendars == 0 || args.replicas == 0 {
        anyhow::bail!("--agents, --resources, --calendars and --replicas must be at least 1");
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    Ok(SoakConfig {
        duration: Duration::from_secs(args.seconds),
        agents: args.agents,
        resources: args.resources,
        multi_rate: args.multi_rate,
        pool_rate: args.pool_rate,
        wait_rate: args.wait_rate,
        pool_capacity: args.pool_capacity,
        depends_on: !args.no_depends_on,
        checker_pool_capacity: args.checker_pool_capacity,
        hold_makers: args.hold_makers,
        calendars: args.calendars,
        ttl: Duration::from_secs(args.ttl),
        kill_every: (
            seconds(args.kill_min, "kill-min")?,
            seconds(args.kill_max, "kill-max")?,
        ),
        max_downtime: seconds(args.max_downtime, "max-downtime")?,
        long_outage_rate: args.long_outage_rate,
        faults: FaultSettings {
            rate: args.fault_rate,
            max_latency: Duration::from_millis(300),
            max_stall: Duration::from_secs(3),
        },
        seed,
        server_exe: std::env::current_exe()?,
        keep_data: args.keep_data,
        database_url: args.database_url,
        replicas: args.replicas,
        restart_database: args.restart_database,
    })
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::ServeChild {
            data_dir,
            database_url,
            database_schema,
        } => {
            let storage = match (database_url, database_schema, data_dir) {
                (Some(url), Some(schema), _) => ChildStorage::Postgres { url, schema },
                (_, _, Some(dir)) => ChildStorage::Sqlite(dir),
                _ => {
                    eprintln!("error: serve-child needs --data-dir or --database-url");
                    return ExitCode::FAILURE;
                }
            };
            match runtime.block_on(server_process::serve_child(storage)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Soak(args) => {
            let report = soak_config(args).and_then(|config| {
                eprintln!(
                    "soak: {} s, seed {}, {} agents, {} hold makers…",
                    config.duration.as_secs(),
                    config.seed,
                    config.agents,
                    config.hold_makers
                );
                runtime.block_on(run_soak(&config))
            });
            match report {
                Ok(report) => {
                    println!("{report}");
                    if report.passed() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("error: the soak could not run: {e:#}");
                    ExitCode::from(2)
                }
            }
        }
    }
}
