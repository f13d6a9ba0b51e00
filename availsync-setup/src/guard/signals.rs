//! The signals the guard passes on to its command: SIGINT and SIGTERM.
//!
//! They are listened for before the command is spawned, so that none is
//! missed and the command starts with their default handling: a signal
//! the guard catches is reset to the default in the command, whereas one
//! the guard had inherited as ignored (a job started in the background by
//! a shell ignores SIGINT) would stay ignored there, and a forwarded SIGINT
//! would then do nothing.

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

/// Listeners for SIGINT and SIGTERM.
pub struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Starts listening.
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// The next signal received.
    pub async fn recv(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::SIGINT,
            _ = self.terminate.recv() => Signal::SIGTERM,
        }
    }
}
