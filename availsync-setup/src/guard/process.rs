//! The guarded command: spawned in its own process group so that stopping
//! it reaches everything it started, and stopped with a signal (SIGTERM, or
//! the one the guard was sent), then SIGKILL after a grace period.

use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// A running command and its process group.
pub struct Command {
    child: tokio::process::Child,
    group: Option<Pid>,
}

impl Command {
    /// Spawns `argv` with inherited stdio, the extra environment, in a new
    /// process group.
    pub fn spawn(argv: &[String], env: &[(&str, String)]) -> std::io::Result<Self> {
        let (program, args) = argv.split_first().ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "no command to run")
        })?;
        let child = tokio::process::Command::new(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .process_group(0)
            .spawn()?;
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw);
        Ok(Self { child, group })
    }

    /// Waits for the command to exit.
    pub async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Sends `signal` to the command's whole process group.
    pub fn signal(&self, signal: Signal) {
        if let Some(group) = self.group
            && let Err(e) = killpg(group, signal)
            && e != nix::errno::Errno::ESRCH
        {
            eprintln!("availsync guard: could not send {signal} to the command: {e}");
        }
    }

    /// Sends `signal` to the group, then SIGKILL after `grace` if the
    /// command has not exited by then.
    pub async fn stop(&mut self, signal: Signal, grace: Duration) -> std::io::Result<ExitStatus> {
        self.signal(signal);
        match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                eprintln!(
                    "availsync guard: the command did not stop within {} of {signal}; killing it (SIGKILL)",
                    super::duration::show(grace)
                );
                self.signal(Signal::SIGKILL);
                self.child.wait().await
            }
        }
    }
}

/// The exit code a shell would report: the command's code, or 128 + the
/// signal that killed it.
pub fn exit_code(status: ExitStatus) -> u8 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    }
}
