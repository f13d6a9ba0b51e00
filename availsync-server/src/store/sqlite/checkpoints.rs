//! Checkpoints: copying the write-ahead log back into the database file
//! without stalling the writer.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold: the writer copies every page of the WAL into the database and
//! fsyncs it while that batch's callers, and every job queued behind them,
//! wait. Under steady load that was most of the p99.
//!
//! Here the bulk of the copy runs on a thread of its own, on a connection
//! of its own, while the writer goes on committing. A checkpoint on another
//! connection alone never lets the WAL start over, though: by the time it
//! has copied what it saw, the writer has appended more, and SQLite restarts
//! the log only when a write transaction begins with every frame copied. So
//! once the background copy is done the writer copies the short tail
//! itself, after a commit and after that batch is answered; its next
//! transaction then writes the WAL from the start again.
//!
//! ```text
//!   writer:      commit … commit (WAL ≥ 2,048 pages) → wake ─┐   commit … commit → copy the tail → restart
//!   checkpointer:                                           └→ copy the WAL's pages, fsync ─┘
//! ```

use std::cell::Cell;
use std::os::raw::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{self, TrySendError};
use std::thread;

use rusqlite::Connection;
use rusqlite::hooks::Wal;

/// Pages in the WAL (4 KiB each) at which a background checkpoint starts.
/// Pages written again and again (index roots, the newest leaves) are
/// copied once per checkpoint, so a larger log copies less per commit; it
/// also takes longer to copy, and the tail the writer copies grows with it.
const BACKGROUND_AT: c_int = 2_048;

/// Pages in the WAL at which the writer copies what it can itself even
/// while a background checkpoint is under way, one that is slow or stuck:
/// a bound on the log (64 MiB), at the cost of stalling the writer.
const WRITER_AT: c_int = 16_384;

const IDLE: u8 = 0;
const COPYING: u8 = 1;
const TAIL_DUE: u8 = 2;

thread_local! {
    /// Frames in the WAL after this thread's last commit, as SQLite's WAL
    /// hook reports them (only the writer thread commits).
    static WAL_PAGES: Cell<c_int> = const { Cell::new(0) };
}

fn note_wal_pages(_: &Wal, pages: c_int) -> rusqlite::Result<()> {
    WAL_PAGES.set(pages);
    Ok(())
}

/// The writer's side of the checkpoints; the checkpointer thread stops when
/// it is dropped.
pub(super) struct Checkpoints {
    phase: Arc<AtomicU8>,
    wake: mpsc::SyncSender<()>,
    /// Tails the writer has copied, each after a background checkpoint.
    tails: u64,
}

impl Checkpoints {
    /// Takes over checkpointing from SQLite's automatic checkpoint on
    /// `writer` and starts the checkpointer thread on `background`, a
    /// read-write connection to the same database.
    pub(super) fn start(writer: &Connection, background: Connection) -> std::io::Result<Self> {
        // Replaces the hook `wal_autocheckpoint` installs: SQLite no longer
        // checkpoints inside a commit.
        writer.wal_hook(Some(note_wal_pages));
        let phase = Arc::new(AtomicU8::new(IDLE));
        let (wake, woken) = mpsc::sync_channel::<()>(1);
        let shared = Arc::clone(&phase);
        thread::Builder::new()
            .name("availsync-sqlite-checkpoint".into())
            .spawn(move || {
                for () in woken {
                    // Whatever happens to the copy, the writer must hear
                    // that it ended, or it would never start another.
                    let copied = catch_unwind(AssertUnwindSafe(|| {
                        copy(&background, "in the background");
                    }));
                    if copied.is_err() {
                        tracing::error!("a background checkpoint panicked; the next one retries");
                    }
                    shared.store(TAIL_DUE, Ordering::Release);
                }
            })?;
        Ok(Self {
            phase,
            wake,
            tails: 0,
        })
    }

    /// Called by the writer after each commit, once the batch is answered:
    /// starts a background checkpoint when the WAL has grown, or copies the
    /// tail when one has finished.
    pub(super) fn after_commit(&mut self, writer: &Connection) {
        let pages = WAL_PAGES.get();
        match self.phase.load(Ordering::Acquire) {
            IDLE if pages >= BACKGROUND_AT => {
                self.phase.store(COPYING, Ordering::Release);
                match self.wake.try_send(()) {
                    Ok(()) | Err(TrySendError::Full(())) => {}
                    // The checkpointer thread is gone: the writer keeps
                    // the log bounded by itself.
                    Err(TrySendError::Disconnected(())) => {
                        copy(writer, "in the writer");
                        self.phase.store(IDLE, Ordering::Release);
                    }
                }
            }
            TAIL_DUE => {
                copy(writer, "of the tail");
                self.tails += 1;
                WAL_PAGES.set(0);
                self.phase.store(IDLE, Ordering::Release);
            }
            COPYING if pages >= WRITER_AT => copy(writer, "in the writer, past the bound"),
            _ => {}
        }
    }
}

/// Copies what it can of the WAL into the database file without waiting
/// for anyone (`PASSIVE`). Frames a reader may still need stay in the log;
/// they are copied by a later checkpoint, and the log restarts only after
/// that, as with SQLite's own checkpoints.
fn copy(conn: &Connection, which: &str) {
    let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
    });
    match done {
        Ok((log, copied)) => tracing::trace!(which, log, copied, "checkpoint"),
        Err(e) => tracing::warn!(which, error = %e, "checkpoint failed; the next one retries"),
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{BACKGROUND_AT, Checkpoints, WAL_PAGES};
    use crate::store::sqlite::configure;

    /// Under a writer that never pauses, the background copy plus the
    /// writer's tail still let the log start over, again and again: the
    /// WAL stays bounded instead of growing with every commit.
    #[test]
    fn the_log_starts_over_while_the_writer_keeps_committing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).unwrap();
        configure(&writer).unwrap();
        writer
            .execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
            .unwrap();
        let background = Connection::open(&path).unwrap();
        configure(&background).unwrap();
        let mut checkpoints = Checkpoints::start(&writer, background).unwrap();

        let mut restarts = 0;
        let mut before = 0;
        let mut most = 0;
        // Three restarts take about 1,300 commits; a log that never
        // restarts fails the test after about 40,000 pages.
        for _ in 0..8_000 {
            // About five pages per commit.
            writer
                .execute("INSERT INTO t (v) VALUES (zeroblob(16000))", [])
                .unwrap();
            let pages = WAL_PAGES.get();
            most = most.max(pages);
            if pages < before {
                restarts += 1;
                if restarts == 3 {
                    break;
                }
            }
            before = pages;
            checkpoints.after_commit(&writer);
        }
        assert_eq!(
            restarts, 3,
            "the log never started over (largest: {most} pages)"
        );
        assert!(
            most >= BACKGROUND_AT,
            "no checkpoint was due ({most} pages)"
        );
        assert!(checkpoints.tails >= 1, "no background checkpoint finished");
        let rows: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert!(rows > i64::from(BACKGROUND_AT) / 5);
    }
}
