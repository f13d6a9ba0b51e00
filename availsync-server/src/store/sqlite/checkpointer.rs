//! Checkpoints the WAL into the database file from a thread of its own.
//!
//! Left to SQLite, the writer would checkpoint inside its own commits (every
//! 1,000 WAL pages), copying pages and fsyncing the database file while
//! every queued write waits. The writer turns that off; this thread runs a
//! `PASSIVE` checkpoint on its own connection every half second instead,
//! which never blocks the writer or readers.

use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_millis(500);

/// Stops the thread when dropped (with the store).
pub(super) struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Opens a connection to `path` and starts checkpointing.
    pub(super) fn start(path: &Path) -> Result<Self, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let (stop, stopped) = mpsc::channel::<()>();
        thread::Builder::new()
            .name("availsync-sqlite-checkpointer".into())
            .spawn(move || run(&conn, &stopped))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Self { _stop: stop })
    }
}

fn run(conn: &Connection, stopped: &mpsc::Receiver<()>) {
    loop {
        match stopped.recv_timeout(INTERVAL) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            // The store is gone: one last checkpoint, then stop.
            _ => {
                checkpoint(conn);
                return;
            }
        }
        checkpoint(conn);
    }
}

fn checkpoint(conn: &Connection) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(error = %e, "WAL checkpoint failed; will retry");
    }
}
