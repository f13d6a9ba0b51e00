//! Server child processes: a free loopback port, start with logs in the
//! data directory, wait until the port answers, stop (only what was started).

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::process::{Child, Command};

/// A free port on 127.0.0.1 (bound, read, released; the server binds it next).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("find a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// A server the bench started. Killed when dropped.
pub struct ChildServer {
    name: String,
    child: Child,
    pid: u32,
    log_path: std::path::PathBuf,
}

impl ChildServer {
    /// Starts `program args…` with stdout and stderr appended to
    /// `log_dir/<name>.log`, then waits until `addr` accepts connections.
    pub async fn spawn(
        name: &str,
        wrapper: &[String],
        program: &Path,
        args: &[String],
        log_dir: &Path,
        addr: SocketAddr,
    ) -> anyhow::Result<Self> {
        let log_path = log_dir.join(format!("{name}.log"));
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("create {}", log_path.display()))?;
        let mut command = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut command = Command::new(first);
                command.args(rest).arg(program);
                command
            }
            None => Command::new(program),
        };
        let mut child = command
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {}", program.display()))?;
        let pid = child.id().context("the child's pid")?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "{name} exited with {status} before listening on {addr}; see {}:\n{}",
                    log_path.display(),
                    tail(&log_path)
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "{name} did not listen on {addr} within 60 s; see {}",
                    log_path.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            name: name.to_owned(),
            child,
            pid,
            log_path,
        })
    }

    /// Whether the process still runs, and the end of its log: what a
    /// failed measurement reports.
    pub fn diagnose(&mut self) -> String {
        let state = match self.child.try_wait() {
            Ok(None) => "still running".to_owned(),
            Ok(Some(status)) => format!("exited with {status}"),
            Err(e) => format!("state unknown ({e})"),
        };
        format!(
            "{} (pid {}) {state}; last lines of its log:\n{}",
            self.name,
            self.pid,
            tail(&self.log_path)
        )
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Stops the server: SIGTERM, then SIGKILL after 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let terminated = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await
            .map(|s| s.success())
            .unwrap_or(false);
        if terminated
            && tokio::time::timeout(Duration::from_secs(10), self.child.wait())
                .await
                .is_ok()
        {
            return Ok(());
        }
        self.child
            .start_kill()
            .with_context(|| format!("kill {}", self.name))?;
        self.child.wait().await?;
        Ok(())
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Runs a command to completion and returns its stdout; an error names the
/// command and shows its stderr.
pub async fn output(program: &Path, args: &[String]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("run {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({}): {}",
            program.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
