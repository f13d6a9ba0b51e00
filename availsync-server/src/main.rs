//! `availsync-server`: serve the API, or change a workspace's plan.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use availsync_server::{
    Clock, ConnectionLimits, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_SIGNUPS, DEFAULT_POOL_SIZE,
    PostgresConfig, ServerConfig, bind, default_data_dir, set_plan,
};
use availsync_types::Plan;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod open_files;

/// mimalloc instead of the C library's allocator: per request the HTTP
/// path allocates and frees many small buffers on two worker threads and
/// the store writer, where glibc's malloc took about a tenth of the
/// server's CPU (docs/performance.md). The library leaves the allocator to
/// whoever embeds it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where the state lives: the embedded SQLite database in the data
/// directory, or a shared PostgreSQL database.
#[derive(clap::Args)]
struct StorageArgs {
    /// Directory for the embedded database [default: the platform data dir + availsync].
    #[arg(long, env = "AVAILSYNC_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL database shared by several replicas, e.g.
    /// postgres://availsync:secret@db:5432/availsync (the data dir is then unused).
    #[arg(long, env = "AVAILSYNC_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// PostgreSQL schema for the tables (created when missing) [default: the search path].
    #[arg(long, env = "AVAILSYNC_DATABASE_SCHEMA", requires = "database_url")]
    database_schema: Option<String>,
    /// Most PostgreSQL connections this replica opens.
    #[arg(long, env = "AVAILSYNC_DATABASE_POOL_SIZE", default_value_t = DEFAULT_POOL_SIZE)]
    database_pool_size: usize,
}

impl StorageArgs {
    fn apply(self, config: ServerConfig) -> ServerConfig {
        ServerConfig {
            data_dir: self.data_dir.unwrap_or_else(default_data_dir),
            database: self.database_url.map(|url| PostgresConfig {
                url,
                schema: self.database_schema,
                pool_size: self.database_pool_size,
            }),
            ..config
        }
    }
}

/// What one client may hold of the server.
#[derive(clap::Args)]
struct LimitArgs {
    /// Most connections open at once [default: 10000, or the open-file
    /// limit less a reserve when that is lower].
    #[arg(long, env = "AVAILSYNC_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
    /// Time for a request's header to arrive, in seconds; also how long an
    /// idle keep-alive connection is kept.
    #[arg(long, env = "AVAILSYNC_HEADER_READ_TIMEOUT", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout: u64,
    /// Seconds open connections get to finish after SIGTERM or SIGINT;
    /// then they are dropped and the process exits.
    #[arg(long, env = "AVAILSYNC_SHUTDOWN_TIMEOUT", default_value_t = 15, value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_timeout: u64,
}

impl LimitArgs {
    /// The limits, with the connection cap fitted under `open_files` (the
    /// process's open-file limit, when known).
    fn limits(&self, open_files: Option<u64>) -> ConnectionLimits {
        let fitted = open_files
            .map(|limit| limit.saturating_sub(RESERVED_FILES).max(1))
            .and_then(|fit| usize::try_from(fit).ok())
            .unwrap_or(DEFAULT_MAX_CONNECTIONS)
            .min(DEFAULT_MAX_CONNECTIONS);
        ConnectionLimits {
            max_connections: self
                .max_connections
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(fitted),
            header_read_timeout: Duration::from_secs(self.header_read_timeout),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
        }
    }
}

/// File descriptors kept free of connections: the database and its WAL,
/// PostgreSQL connections, logs, the listener.
const RESERVED_FILES: u64 = 128;

/// The Availsync reference server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// How log lines are written to stderr: text for people, json for one
    /// JSON object per line (for a log collector).
    #[arg(long, global = true, env = "AVAILSYNC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Logs to stderr, level from `RUST_LOG` (default `info`: one access line
/// per request).
fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "AVAILSYNC_LISTEN", default_value = availsync_server::config::DEFAULT_LISTEN)]
        listen: SocketAddr,
        #[command(flatten)]
        storage: StorageArgs,
        /// Public URL of the server, for the Origin check [default: http://<listen>].
        #[arg(long, env = "AVAILSYNC_PUBLIC_URL")]
        public_url: Option<String>,
        /// Plain-HTTP local use: session cookies drop the Secure flag.
        #[arg(long)]
        insecure_http: bool,
        /// Days of activity to keep (audit is kept forever).
        #[arg(long, env = "AVAILSYNC_ACTIVITY_RETENTION_DAYS", default_value_t = 30)]
        activity_retention_days: u32,
        #[command(flatten)]
        limits: LimitArgs,
        /// Take the client's address for throttling from the first
        /// X-Forwarded-For hop: only behind a proxy that sets the header.
        #[arg(long, env = "AVAILSYNC_TRUST_FORWARDED_FOR")]
        trust_forwarded_for: bool,
        /// Sign-ups one client address may make within ten minutes.
        #[arg(long, env = "AVAILSYNC_SIGNUPS_PER_CLIENT", default_value_t = DEFAULT_MAX_SIGNUPS)]
        signups_per_client: u32,
        /// Serve GET /metrics (Prometheus text) on this address, apart from
        /// the API, e.g. 127.0.0.1:9090 [default: off].
        #[arg(long, env = "AVAILSYNC_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
        /// Passwords hashed at once [default: twice the cores].
        #[arg(long, env = "AVAILSYNC_PASSWORD_HASHING", value_parser = clap::value_parser!(u32).range(1..=1024))]
        password_hashing: Option<u32>,
    },
    /// Change a workspace's plan (operator only).
    SetPlan {
        #[command(flatten)]
        storage: StorageArgs,
        /// Workspace id (ws_…) or name.
        #[arg(long)]
        workspace: String,
        /// free, team or business.
        #[arg(long)]
        plan: Plan,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                listen,
                storage,
                public_url,
                insecure_http,
                activity_retention_days,
                limits,
                trust_forwarded_for,
                signups_per_client,
                password_hashing,
                metrics_listen,
            } => {
                let open_files = open_files::raise_to_hard_limit();
                let config = ServerConfig {
                    listen,
                    public_url,
                    insecure_http,
                    activity_retention: Duration::from_secs(
                        u64::from(activity_retention_days) * 24 * 3600,
                    ),
                    limits: limits.limits(open_files),
                    trust_forwarded_for,
                    signups_per_client,
                    metrics_listen,
                    ..password_hashing_places(
                        password_hashing,
                        storage.apply(ServerConfig::new(default_data_dir())),
                    )
                };
                serve(config).await
            }
            Command::SetPlan {
                storage,
                workspace,
                plan,
            } => change_plan(storage, &workspace, plan).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ServerConfig) -> anyhow::Result<()> {
    if config.insecure_http {
        tracing::warn!(
            "--insecure-http: session cookies are sent without the Secure flag; use only for plain-HTTP local use"
        );
    }
    let storage = match &config.database {
        Some(database) => format!(
            "postgresql (schema {})",
            database.schema.as_deref().unwrap_or("from the search path")
        ),
        None => format!("sqlite in {}", config.data_dir.display()),
    };
    let limits = config.limits;
    let (bound, server) = bind(config, shutdown_signal()).await?;
    let addr = bound.api;
    if let Some(metrics) = bound.metrics {
        tracing::info!(%metrics, "metrics at http://{metrics}/metrics");
    }
    tracing::info!(
        %addr,
        %storage,
        version = env!("CARGO_PKG_VERSION"),
        max_connections = limits.max_connections,
        header_read_timeout = ?limits.header_read_timeout,
        shutdown_timeout = ?limits.shutdown_timeout,
        "availsync-server listening"
    );
    server.await?;
    tracing::info!("availsync-server stopped");
    Ok(())
}

async fn change_plan(storage: StorageArgs, workspace: &str, plan: Plan) -> anyhow::Result<()> {
    let config = storage.apply(ServerConfig {
        clock: Clock::system(),
        ..ServerConfig::new(default_data_dir())
    });
    let updated = set_plan(&config, workspace, plan).await?;
    println!(
        "workspace {} ({}) is now on the {} plan",
        updated.id, updated.name, updated.plan
    );
    Ok(())
}

/// `config` with `places` passwords hashed at once, when given.
fn password_hashing_places(places: Option<u32>, config: ServerConfig) -> ServerConfig {
    match places.and_then(|n| usize::try_from(n).ok()) {
        Some(password_hashing_places) => ServerConfig {
            password_hashing_places,
            ..config
        },
        None => config,
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
}
