//! `availsync-mcp`: the Availsync stdio MCP server.
//!
//! MCP clients (Claude Code, Codex, Cursor, Windsurf, VS Code, …) launch it
//! and talk JSON-RPC over its stdin and stdout. Its tools make the model
//! claim a repository or project before editing it and skip when someone
//! else holds it; the leases it grants are kept alive in the background
//! until `finish_run`, a maximum run time, or shutdown (stdin closed,
//! SIGTERM, SIGINT), when they are finished as `cancelled`.
//!
//! stdout carries only the protocol; logs go to stderr (`RUST_LOG`), and the
//! API key is never printed.

mod config;
mod session_link;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use availsync_mcp::{AvailsyncMcp, LeaseKeeping, Options};
use availsync_sdk::Client;
use clap::Parser;
use humantime::format_duration;
use rmcp::ServiceExt;
use tracing_subscriber::EnvFilter;

use crate::config::{Cli, Target};

/// Exit code when the server is not configured (no key, unreadable
/// credentials, bad URL).
const EXIT_NOT_CONFIGURED: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let target = match config::resolve_from_process(cli.url.as_deref()) {
        Ok(target) => target,
        Err(e) => {
            eprintln!("availsync-mcp: {e}");
            return ExitCode::from(EXIT_NOT_CONFIGURED);
        }
    };
    let client = match target.client(cli.call_timeout) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("availsync-mcp: {e}");
            return ExitCode::from(EXIT_NOT_CONFIGURED);
        }
    };
    // Kept until main returns: dropping it removes the link file.
    let _session_link = session_link::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("availsync-mcp: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(&cli, &target, client));
    // After a signal, a blocking read of stdin may still be pending; do not
    // wait for it.
    runtime.shutdown_background();
    code
}

/// Logs to stderr only (stdout is the protocol), level from `RUST_LOG`.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("availsync_mcp=info,rmcp=warn,warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Serves MCP on stdin/stdout until stdin closes or a signal comes, then
/// finishes the held leases as cancelled.
async fn serve(cli: &Cli, target: &Target, client: Client) -> ExitCode {
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        url = %target.url,
        key_from = %target.key_source,
        max_run_time = %format_duration(cli.max_run_time),
        default_ttl_seconds = cli.ttl_seconds,
        call_timeout = %format_duration(cli.call_timeout),
        "availsync-mcp starting"
    );
    let mut signals = match Signals::new() {
        Ok(signals) => signals,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for signals");
            return ExitCode::FAILURE;
        }
    };
    tokio::spawn(report_reachability(client.clone()));

    let options = Options {
        default_ttl_seconds: cli.ttl_seconds,
        call_timeout: cli.call_timeout,
    };
    let keeping = LeaseKeeping::InProcess {
        max_run_time: cli.max_run_time,
    };
    let server =
        AvailsyncMcp::new(client, keeping, options).with_run_ids(session_link::next_run_id);
    let running = tokio::select! {
        served = server.clone().serve(rmcp::transport::stdio()) => match served {
            Ok(running) => running,
            Err(e) => {
                tracing::warn!(error = %e, "the MCP session did not start");
                return ExitCode::FAILURE;
            }
        },
        signal = signals.recv() => {
            tracing::info!(signal, "stopped before the MCP session started");
            return ExitCode::SUCCESS;
        }
    };

    let stop = running.cancellation_token();
    let waiting = running.waiting();
    tokio::pin!(waiting);
    let reason = tokio::select! {
        quit = &mut waiting => {
            tracing::debug!(?quit, "MCP session ended");
            "stdin closed"
        }
        signal = signals.recv() => {
            stop.cancel();
            let _ = tokio::time::timeout(Duration::from_secs(1), &mut waiting).await;
            signal
        }
    };
    let held = server.held_leases();
    tracing::info!(
        reason,
        held,
        "shutting down; finishing held leases as cancelled"
    );
    let report = server.shutdown(cli.shutdown_timeout).await;
    tracing::info!(
        finished = report.finished,
        unfinished = report.unfinished,
        "availsync-mcp stopped"
    );
    ExitCode::SUCCESS
}

/// Warns early, for whoever reads the client's MCP log, when the server
/// cannot be reached. Tool calls fail closed either way.
async fn report_reachability(client: Client) {
    match client.health().await {
        Ok(health) => {
            tracing::debug!(server_version = %health.version, "Availsync server reachable");
        }
        Err(e) => {
            tracing::warn!(error = %e, "Availsync server not reachable; tools will answer STOP until it is")
        }
    }
}

/// SIGINT and SIGTERM (SIGINT only off Unix).
struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.interrupt.recv() => "SIGINT",
                _ = self.terminate.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            match tokio::signal::ctrl_c().await {
                Ok(()) => "Ctrl-C",
                Err(_) => std::future::pending().await,
            }
        }
    }
}
