//! A transaction whose `BEGIN` costs no round trip of its own.
//!
//! tokio-postgres sends a query when its future is first polled, and the
//! database runs queries in the order they arrive (see
//! [`super::sql::pipelined!`]). `BEGIN` is a simple query, never waiting on
//! a prepare, so polled ahead of a transaction's body it always goes out
//! first, in the same write as the body's first statements.
//!
//! `COMMIT` is not sent that way: a statement of the body that must be
//! prepared first (its first use on a connection) would go out after a
//! `COMMIT` polled behind it, outside the transaction.

use crate::store::StoreResult;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use deadpool_postgres::Object;

use crate::store::StoreError;

/// A transaction on a pooled connection: [`Tx::run`] begins it, runs a body
/// on [`Tx::db`], and commits, or rolls back when the body fails.
///
/// A `Tx` dropped while its transaction is open (its request was abandoned
/// mid-way, or its commit or rollback failed) rolls back in a task of its
/// own, and only then does the connection go back to the pool; if the
/// rollback fails, the connection leaves the pool and closes, and the
/// database rolls back. A connection never goes back to the pool inside a
/// transaction.
pub(super) struct Tx {
    client: Option<Object>,
    /// Whether the transaction has ended, committed or rolled back.
    ended: AtomicBool,
}

impl Tx {
    /// A transaction, not yet begun, on `client`.
    pub(super) fn new(client: Object) -> Self {
        Self {
            client: Some(client),
            ended: AtomicBool::new(false),
        }
    }

    /// The connection, for the transaction's statements.
    pub(super) fn db(&self) -> &Object {
        self.client
            .as_ref()
            .unwrap_or_else(|| unreachable!("a transaction's connection is taken only on drop"))
    }

    /// Begins the transaction in the same round trip as `body`'s first
    /// statements, runs `body`, then commits; when `body` fails, rolls back
    /// and answers its failure.
    pub(super) async fn run<T>(
        &self,
        body: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let begin = async { Ok::<_, StoreError>(self.db().batch_execute("BEGIN").await?) };
        let (begun, outcome) = tokio::join!(biased; begin, body);
        match begun.and(outcome) {
            Ok(value) => {
                self.db().batch_execute("COMMIT").await?;
                self.ended.store(true, Ordering::Release);
                Ok(value)
            }
            Err(error) => {
                if self.db().batch_execute("ROLLBACK").await.is_ok() {
                    self.ended.store(true, Ordering::Release);
                }
                Err(error)
            }
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if self.ended.load(Ordering::Acquire) {
            return;
        }
        let Some(client) = self.client.take() else {
            return;
        };
        // The connection keeps its place in the pool until the database has
        // rolled back: a backend still waiting on a lock for an abandoned
        // request is then counted, so abandoned requests cannot open more
        // backends than the pool allows. Only a connection whose rollback
        // fails leaves the pool (and closes, which rolls back too).
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if client.batch_execute("ROLLBACK").await.is_err() {
                        drop(Object::take(client));
                    }
                });
            }
            Err(_) => drop(Object::take(client)),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Need `AVAILSYNC_TEST_DATABASE_URL` (as `.ci/run` sets for this
    //! crate's tests); each says so and checks nothing without it.

    use std::str::FromStr;
    use std::time::Duration;

    use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
    use tokio_postgres::NoTls;

    use super::*;

    fn pool(size: usize) -> Option<Pool> {
        let url = super::super::test_db::url()?;
        let config = tokio_postgres::Config::from_str(&url).expect("database URL");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        Some(
            Pool::builder(manager)
                .max_size(size)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .build()
                .expect("pool"),
        )
    }

    /// Whether another session could take the session-level advisory lock
    /// `key` now (and gives it back if so).
    async fn free(observer: &Object, key: i64) -> bool {
        let taken: bool = observer
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .await
            .expect("try lock")
            .get(0);
        if taken {
            observer
                .execute("SELECT pg_advisory_unlock($1)", &[&key])
                .await
                .expect("unlock");
        }
        taken
    }

    #[tokio::test]
    async fn the_body_runs_inside_one_transaction_that_commits() {
        let Some(pool) = pool(2) else { return };
        let observer = pool.get().await.expect("observer");
        let key = 7_301_i64;
        let tx = Tx::new(pool.get().await.expect("connection"));
        let held_between_statements = tx
            .run(async {
                tx.db()
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&key])
                    .await?;
                // Outside a transaction the lock would be gone already.
                let held = !free(&observer, key).await;
                tx.db().execute("SELECT 1", &[]).await?;
                Ok(held)
            })
            .await
            .expect("run");
        assert!(held_between_statements, "BEGIN did not take effect");
        assert!(free(&observer, key).await, "COMMIT did not end it");
    }

    #[tokio::test]
    async fn a_failing_body_rolls_back_and_its_connection_returns() {
        let Some(pool) = pool(2) else { return };
        let observer = pool.get().await.expect("observer");
        let key = 7_302_i64;
        let tx = Tx::new(pool.get().await.expect("connection"));
        let answer: StoreResult<()> = tx
            .run(async {
                tx.db()
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&key])
                    .await?;
                Err(StoreError::Contention("a race".into()))
            })
            .await;
        assert!(
            matches!(answer, Err(StoreError::Contention(_))),
            "{answer:?}"
        );
        assert!(free(&observer, key).await, "ROLLBACK did not end it");
        drop(tx);
        assert_eq!(pool.status().size, 2, "the connection left the pool");
    }

    #[tokio::test]
    async fn an_abandoned_transaction_is_rolled_back_before_its_connection_returns() {
        let Some(pool) = pool(2) else { return };
        let observer = pool.get().await.expect("observer");
        let key = 7_303_i64;
        let tx = Tx::new(pool.get().await.expect("connection"));
        let abandoned = tokio::time::timeout(
            Duration::from_millis(200),
            tx.run(async {
                tx.db()
                    .execute("SELECT pg_advisory_xact_lock($1)", &[&key])
                    .await?;
                std::future::pending::<StoreResult<()>>().await
            }),
        )
        .await;
        assert!(abandoned.is_err(), "the body should still be running");
        drop(tx);
        // The pool's other slot comes back once the rollback is done.
        let again = tokio::time::timeout(Duration::from_secs(10), pool.get())
            .await
            .expect("the connection never came back")
            .expect("connection");
        assert!(
            free(&observer, key).await,
            "the abandoned transaction holds its lock"
        );
        // Back outside any transaction: a transaction-scoped lock ends with
        // its statement.
        let outside = 7_304_i64;
        again
            .execute("SELECT pg_advisory_xact_lock($1)", &[&outside])
            .await
            .expect("lock");
        assert!(
            free(&observer, outside).await,
            "the connection came back inside a transaction"
        );
        assert_eq!(pool.status().size, 2);
    }
}
