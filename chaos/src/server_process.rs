//! The reference server as a child process that can be killed with SIGKILL
//! and started again on the same data.
//!
//! The child is this very binary run as `availsync-chaos serve-child`, so
//! the soak needs nothing installed beside itself. The child binds a free
//! loopback port and prints it on its first line of output; each restart
//! gets a new port, which the fault proxy then forwards to.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The first line a child prints: `listening <addr>`.
pub const LISTENING_PREFIX: &str = "listening ";

/// Where a child keeps its state.
#[derive(Debug, Clone)]
pub enum ChildStorage {
    /// The embedded SQLite store in this directory.
    Sqlite(PathBuf),
    /// A schema of a shared PostgreSQL database.
    Postgres {
        /// The database URL.
        url: String,
        /// The schema.
        schema: String,
    },
}

impl ChildStorage {
    fn args(&self) -> Vec<std::ffi::OsString> {
        match self {
            Self::Sqlite(dir) => vec!["--data-dir".into(), dir.into()],
            Self::Postgres { url, schema } => vec![
                "--database-url".into(),
                url.into(),
                "--database-schema".into(),
                schema.into(),
            ],
        }
    }

    /// The server configuration for this storage.
    pub fn server_config(&self) -> availsync_server::ServerConfig {
        match self {
            Self::Sqlite(dir) => availsync_server::ServerConfig::ephemeral(dir),
            Self::Postgres { url, schema } => availsync_server::ServerConfig {
                database: Some(availsync_server::PostgresConfig {
                    url: url.clone(),
                    schema: Some(schema.clone()),
                    pool_size: 8,
                }),
                ..availsync_server::ServerConfig::ephemeral(std::env::temp_dir())
            },
        }
    }
}

/// A server child process and how to start it again.
pub struct ServerProcess {
    exe: PathBuf,
    storage: ChildStorage,
    log: PathBuf,
    child: Option<Child>,
    addr: Option<SocketAddr>,
}

impl ServerProcess {
    /// Starts `exe serve-child` on `storage`, appending its log to `log`.
    pub async fn start(exe: &Path, storage: &ChildStorage, log: &Path) -> anyhow::Result<Self> {
        let mut process = Self {
            exe: exe.to_owned(),
            storage: storage.clone(),
            log: log.to_owned(),
            child: None,
            addr: None,
        };
        process.restart().await?;
        Ok(process)
    }

    /// Where the running child listens.
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// SIGKILLs the child: no shutdown, no flush, no goodbye.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill().context("SIGKILL the server")?;
            child.wait().await.context("reap the killed server")?;
        }
        self.addr = None;
        Ok(())
    }

    /// Starts a fresh child (killing the old one if it still runs) and waits
    /// until it serves `/health`.
    pub async fn restart(&mut self) -> anyhow::Result<SocketAddr> {
        self.kill().await?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("open {}", self.log.display()))?;
        let mut child = Command::new(&self.exe)
            .arg("serve-child")
            .args(self.storage.args())
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {} serve-child", self.exe.display()))?;
        let stdout = child.stdout.take().context("the child's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("the server did not start within 30 s")?
            .context("read the server's first line")?;
        let Some(addr) = first
            .as_deref()
            .and_then(|line| line.strip_prefix(LISTENING_PREFIX))
        else {
            bail!(
                "the server did not start (first line {first:?}); see {}",
                self.log.display()
            );
        };
        let addr: SocketAddr = addr.parse().context("the server's address")?;
        self.child = Some(child);
        self.addr = Some(addr);
        Ok(addr)
    }

    /// Stops the child for good.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.kill().await
    }
}

/// The body of `serve-child`: serve `storage` on a free loopback port until
/// killed, after printing where.
pub async fn serve_child(storage: ChildStorage) -> anyhow::Result<()> {
    let config = availsync_server::ServerConfig {
        sweep_interval: Duration::from_secs(1),
        ..storage.server_config()
    };
    let (bound, server) = availsync_server::bind(config, std::future::pending()).await?;
    let addr = bound.api;
    // The parent reads this line to learn the port.
    println!("{LISTENING_PREFIX}{addr}");
    server.await?;
    Ok(())
}
