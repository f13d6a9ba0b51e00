//! `availsync-server`: serve the API, or change a workspace's plan.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use availsync_server::store::Store;
use availsync_server::store::sqlite::SqliteStore;
use availsync_server::{Clock, ServerConfig, bind, default_data_dir};
use availsync_types::Plan;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// The Availsync reference server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "AVAILSYNC_LISTEN", default_value = availsync_server::config::DEFAULT_LISTEN)]
        listen: SocketAddr,
        /// Directory for the database [default: the platform data dir + availsync].
        #[arg(long, env = "AVAILSYNC_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Public URL of the server, for the Origin check [default: http://<listen>].
        #[arg(long, env = "AVAILSYNC_PUBLIC_URL")]
        public_url: Option<String>,
        /// Plain-HTTP local use: session cookies drop the Secure flag.
        #[arg(long)]
        insecure_http: bool,
        /// Days of activity to keep (audit is kept forever).
        #[arg(long, env = "AVAILSYNC_ACTIVITY_RETENTION_DAYS", default_value_t = 30)]
        activity_retention_days: u32,
    },
    /// Change a workspace's plan (operator only).
    SetPlan {
        /// Directory of the database [default: the platform data dir + availsync].
        #[arg(long, env = "AVAILSYNC_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Workspace id (ws_…) or name.
        #[arg(long)]
        workspace: String,
        /// free, team or business.
        #[arg(long)]
        plan: Plan,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                listen,
                data_dir,
                public_url,
                insecure_http,
                activity_retention_days,
            } => {
                let config = ServerConfig {
                    listen,
                    public_url,
                    insecure_http,
                    activity_retention: Duration::from_secs(
                        u64::from(activity_retention_days) * 24 * 3600,
                    ),
                    ..ServerConfig::new(data_dir.unwrap_or_else(default_data_dir))
                };
                serve(config).await
            }
            Command::SetPlan {
                data_dir,
                workspace,
                plan,
            } => set_plan(data_dir, &workspace, plan).await,
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
    let data_dir = config.data_dir.clone();
    let (addr, server) = bind(config, shutdown_signal()).await?;
    tracing::info!(%addr, data_dir = %data_dir.display(), version = env!("CARGO_PKG_VERSION"), "availsync-server listening");
    server.await?;
    tracing::info!("availsync-server stopped");
    Ok(())
}

async fn set_plan(data_dir: Option<PathBuf>, workspace: &str, plan: Plan) -> anyhow::Result<()> {
    let data_dir = data_dir.unwrap_or_else(default_data_dir);
    let store = SqliteStore::open(&data_dir, Clock::system())?;
    let updated = store.set_plan(workspace, plan).await?;
    println!(
        "workspace {} ({}) is now on the {} plan",
        updated.id, updated.name, updated.plan
    );
    Ok(())
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
    tracing::info!("shutting down: finishing in-flight requests");
}
