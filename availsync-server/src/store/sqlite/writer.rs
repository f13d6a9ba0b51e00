//! The single writer with group commit.
//!
//! SQLite allows one writer at a time, and with `synchronous=FULL` each commit
//! costs an fsync. Funnelling every write through one thread lets it run all
//! the write jobs that queued up during the previous fsync in one transaction
//! (each in its own savepoint, so one job's failure undoes only its own
//! changes) and make them durable with a single fsync. Answers are released
//! only after that commit, so nothing is acknowledged before it is durable.
//!
//! A savepoint is not free: SQLite copies every page a job changes into the
//! savepoint's journal first, and in a batch the same few right-hand pages
//! are copied again by every job. The hot jobs (start, extend, finish)
//! check everything before their first change, so they run without one
//! ([`Undo::WholeBatch`]): if such a job fails before changing anything
//! there is nothing to undo, and if it fails after (only a database error
//! can do that) the whole batch is rolled back and every job in it fails.

use crate::store::StoreResult;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoints::Checkpoints;
use super::writer_cache;
use crate::store::StoreError;

/// Most jobs committed together; bounds the latency of the first job.
const MAX_BATCH: usize = 512;

type Completion = Box<dyn FnOnce(Result<(), CommitFailure>) + Send>;

/// Why a batch was not committed, for every job in it.
#[derive(Debug, Clone)]
struct CommitFailure {
    /// The disk (or SQLite's page limit) is full: nothing could be written.
    full: bool,
    /// In words.
    message: String,
}

impl CommitFailure {
    fn of_sqlite(e: &rusqlite::Error, what: &str) -> Self {
        Self {
            full: e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull),
            message: format!("{what}: {e}"),
        }
    }

    fn into_store_error(self) -> StoreError {
        if self.full {
            StoreError::StorageFull(self.message)
        } else {
            StoreError::Backend(self.message)
        }
    }
}
type Job = Box<dyn FnOnce(&Connection) -> Ran + Send>;

/// How a failed job's changes are taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Undo {
    /// The job runs in a savepoint of its own: a failure undoes only its
    /// changes, and the rest of the batch commits.
    Savepoint,
    /// No savepoint, for jobs that check everything before their first
    /// change: a failure before it leaves nothing to undo; a failure after
    /// it rolls back the whole batch, and every job in the batch fails.
    WholeBatch,
}

/// A job that has run, waiting for its batch's commit.
struct Ran {
    completion: Completion,
    /// Why the batch must not commit: the job failed and its changes
    /// cannot be undone on their own.
    spoiled: Option<CommitFailure>,
}

/// Handle to the writer thread. Dropping every handle stops the thread once
/// the queued jobs are done.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`, which checkpoints with
    /// `checkpoints` after its commits.
    pub(super) fn start(conn: Connection, checkpoints: Checkpoints) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("availsync-sqlite-writer".into())
            .spawn(move || run(conn, queue, checkpoints))?;
        Ok(Self { jobs })
    }

    /// Runs `job` in a write transaction and answers once it is committed;
    /// `undo` says how its changes are taken back if it fails.
    pub(super) async fn write<T, F>(&self, undo: Undo, job: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (job, answer) = boxed(undo, job);
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Backend("the writer thread has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Backend(
                "the write was not committed: its batch was rolled back or the writer stopped"
                    .into(),
            )
        })?
    }
}

/// Wraps `job` for the writer thread, with the receiver of its answer.
fn boxed<T, F>(undo: Undo, job: F) -> (Job, oneshot::Receiver<StoreResult<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        let (outcome, spoiled) = match undo {
            Undo::Savepoint => in_savepoint(conn, job),
            Undo::WholeBatch => {
                let before = conn.total_changes();
                let outcome = catch_panic(|| job(conn));
                let spoiled = outcome.is_err() && conn.total_changes() != before;
                (outcome, spoiled)
            }
        };
        // A database error can end the transaction itself (SQLite rolls
        // back on a full disk or an I/O error): what ran of the batch is
        // gone, so it must not go on as if committed.
        let spoiled = (spoiled || conn.is_autocommit()).then(|| match &outcome {
            Err(e) => CommitFailure {
                full: matches!(e, StoreError::StorageFull(_)),
                message: e.to_string(),
            },
            Ok(_) => CommitFailure {
                full: false,
                message: "the transaction ended under it".to_owned(),
            },
        });
        Ran {
            spoiled,
            completion: Box::new(move |commit: Result<(), CommitFailure>| {
                // A failed job answers its own error: none of it was to be
                // committed either way.
                let result = match commit {
                    Err(e) if outcome.is_ok() => Err(e.into_store_error()),
                    _ => outcome,
                };
                let _ = reply.send(result);
            }),
        }
    });
    (job, answer)
}

fn catch_panic<T>(job: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    catch_unwind(AssertUnwindSafe(job))
        .unwrap_or_else(|_| Err(StoreError::Backend("a write job panicked".into())))
}

/// Runs `job` in a savepoint of its own, and says whether its failure
/// spoiled the batch (its changes could not be rolled back on their own).
fn in_savepoint<T>(
    conn: &Connection,
    job: impl FnOnce(&Connection) -> StoreResult<T>,
) -> (StoreResult<T>, bool) {
    // Cached statements: these run twice per job.
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([]));
    if let Err(e) = run("SAVEPOINT job") {
        return (Err(e.into()), false);
    }
    let outcome = catch_panic(|| job(conn));
    if outcome.is_err() {
        writer_cache::forget();
        if run("ROLLBACK TO job").is_err() {
            return (outcome, true);
        }
    }
    match run("RELEASE job") {
        Ok(_) => (outcome, false),
        Err(e) => (outcome.and(Err(e.into())), true),
    }
}

fn run(conn: Connection, queue: mpsc::Receiver<Job>, mut checkpoints: Checkpoints) {
    super::priority::raise_writer();
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch);
        // The batch is answered; a checkpoint now delays only the next one.
        checkpoints.after_commit(&conn);
    }
}

fn commit_batch(conn: &Connection, batch: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        tracing::error!(error = %e, "could not begin a write transaction");
        // Dropping the jobs unrun drops their reply channels: each caller
        // gets an error, and nothing was written.
        drop(batch);
        return;
    }
    if let Err(e) = writer_cache::begin_batch(conn) {
        tracing::warn!(error = %e, "could not read the database's data version");
        writer_cache::forget();
    }
    let mut ran = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut spoiled = None;
    for job in jobs.by_ref() {
        let mut done = job(conn);
        spoiled = done.spoiled.take();
        ran.push(done);
        if spoiled.is_some() {
            break;
        }
    }
    // Jobs after a spoiled one are dropped unrun: their callers get an
    // error, and nothing of theirs was written.
    drop(jobs);
    let commit = match spoiled {
        Some(cause) => {
            tracing::error!(error = %cause.message, "a write failed part-way; rolling back its batch");
            rollback(conn);
            Err(CommitFailure {
                full: cause.full,
                message: format!(
                    "not committed: another write in its batch failed part-way ({}), \
                     so the batch was rolled back",
                    cause.message
                ),
            })
        }
        None => conn.execute_batch("COMMIT").map_err(|e| {
            tracing::error!(error = %e, "group commit failed; rolling back the batch");
            rollback(conn);
            CommitFailure::of_sqlite(&e, "commit failed")
        }),
    };
    for done in ran {
        (done.completion)(commit.clone());
    }
}

/// Ends the open transaction, if SQLite has not ended it already.
fn rollback(conn: &Connection) {
    writer_cache::forget();
    if !conn.is_autocommit()
        && let Err(e) = conn.execute_batch("ROLLBACK")
    {
        tracing::error!(error = %e, "could not roll back a failed batch");
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::{Undo, boxed, commit_batch};
    use crate::store::{StoreError, StoreResult};

    fn database() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
            .unwrap();
        conn
    }

    fn values(conn: &Connection) -> Vec<i64> {
        conn.prepare("SELECT v FROM t ORDER BY v")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn insert(v: i64) -> impl FnOnce(&Connection) -> StoreResult<()> + Send + 'static {
        move |conn| {
            conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
            Ok(())
        }
    }

    /// Every undo mode: a job that fails before its first change takes
    /// nothing of the batch with it.
    #[test]
    fn a_job_failing_before_any_change_leaves_the_batch_alone() {
        for undo in [Undo::Savepoint, Undo::WholeBatch] {
            let conn = database();
            let (first, first_answer) = boxed(undo, insert(1));
            let (refused, refused_answer) = boxed(undo, |_: &Connection| -> Result<(), _> {
                Err(StoreError::Refused(crate::store::Refusal::NotFound("run")))
            });
            let (last, last_answer) = boxed(undo, insert(2));
            commit_batch(&conn, vec![first, refused, last]);
            assert_eq!(values(&conn), [1, 2], "{undo:?}");
            assert!(first_answer.blocking_recv().unwrap().is_ok());
            assert!(matches!(
                refused_answer.blocking_recv().unwrap(),
                Err(StoreError::Refused(crate::store::Refusal::NotFound("run")))
            ));
            assert!(last_answer.blocking_recv().unwrap().is_ok());
        }
    }

    /// A job that changed something and then failed: in a savepoint only
    /// its own change is undone; without one, the whole batch is rolled
    /// back, every caller hears so, and the jobs after it never run.
    #[test]
    fn a_job_failing_after_a_change_is_undone_alone_or_with_its_batch() {
        let part_way = || {
            |conn: &Connection| -> StoreResult<()> {
                conn.execute("INSERT INTO t (v) VALUES (10)", [])?;
                conn.execute("INSERT INTO t (v) VALUES (1)", [])?; // not unique
                Ok(())
            }
        };

        let conn = database();
        let (first, first_answer) = boxed(Undo::Savepoint, insert(1));
        let (failing, failing_answer) = boxed(Undo::Savepoint, part_way());
        let (last, last_answer) = boxed(Undo::Savepoint, insert(2));
        commit_batch(&conn, vec![first, failing, last]);
        assert_eq!(values(&conn), [1, 2]);
        assert!(first_answer.blocking_recv().unwrap().is_ok());
        assert!(failing_answer.blocking_recv().unwrap().is_err());
        assert!(last_answer.blocking_recv().unwrap().is_ok());

        let conn = database();
        let (first, first_answer) = boxed(Undo::Savepoint, insert(1));
        let (failing, failing_answer) = boxed(Undo::WholeBatch, part_way());
        let (last, last_answer) = boxed(Undo::WholeBatch, insert(2));
        commit_batch(&conn, vec![first, failing, last]);
        assert_eq!(values(&conn), Vec::<i64>::new());
        assert!(conn.is_autocommit(), "the transaction was left open");
        let first = first_answer.blocking_recv().unwrap();
        // The others hear why, naming the failed write's cause; the failed
        // job answers its own error.
        assert!(
            matches!(&first, Err(StoreError::Backend(m))
                if m.contains("rolled back") && m.contains("UNIQUE")),
            "{first:?}"
        );
        let failing = failing_answer.blocking_recv().unwrap();
        assert!(
            failing
                .as_ref()
                .is_err_and(|e| !e.to_string().contains("rolled back")),
            "{failing:?}"
        );
        assert!(
            last_answer.blocking_recv().is_err(),
            "ran after the failure"
        );

        // The next batch starts clean.
        let (next, next_answer) = boxed(Undo::WholeBatch, insert(3));
        commit_batch(&conn, vec![next]);
        assert!(next_answer.blocking_recv().unwrap().is_ok());
        assert_eq!(values(&conn), [3]);
    }
}
