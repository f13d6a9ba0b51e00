//! The waiters' queue (SPEC §13; the rules are in
//! [`crate::domain::queue`]), shared by every replica, and the
//! notifications that wake waiters across replicas: one `LISTEN`
//! connection per replica, never one per waiter.

use std::time::Duration;

use availsync_types::Timestamp;
use deadpool_postgres::GenericClient;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use tokio_postgres::{AsyncMessage, NoTls};

use super::sql::{execute, get, now, row_one, rows};
use super::work::{Serving, Step, start_one};
use crate::domain::clock::Clock;
use crate::domain::ids::{AgentId, WorkspaceId};
use crate::domain::queue::{
    QueueSignal, QueuedStart, Queueing, Replica, SERVE_BATCH, Served, SignalSender, StartOutcome,
    alive_until,
};
use crate::store::{AgentContext, StartRun, StoreError, StoreResult};

/// The notification channel of the store in `schema`: channels are
/// database-wide, and stores in other schemas of the same database must
/// not hear each other.
pub(super) fn channel_name(schema: Option<&str>) -> String {
    let digest = Sha256::digest(schema.unwrap_or("").as_bytes());
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("availsync_queue_{short}")
}

/// Whether any waiter (before `before`, if given) is queued in the
/// workspace.
pub(super) async fn anyone_waiting<C: GenericClient>(
    client: &C,
    workspace_id: &str,
    before: Option<i64>,
) -> StoreResult<bool> {
    let row = row_one(
        client,
        "SELECT EXISTS (SELECT 1 FROM waiters WHERE workspace_id = $1 AND seq < $2)",
        &[&workspace_id, &before.unwrap_or(i64::MAX)],
    )
    .await?;
    get(&row, 0)
}

/// Queues a start that waits until `deadline` on `keys`; answers its place.
pub(super) async fn join<C: GenericClient>(
    client: &C,
    now: Timestamp,
    agent: &AgentContext,
    start: &StartRun,
    keys: &[String],
    deadline: Timestamp,
    replica: Replica,
) -> StoreResult<i64> {
    let request = QueuedStart::from(start).to_json()?;
    let row = row_one(
        client,
        "WITH waiter AS (
             INSERT INTO waiters (workspace_id, agent_id, agent_name, run_id, request,
                                  deadline_at, alive_until, replica, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             RETURNING seq),
         keys AS (
             INSERT INTO waiter_keys (workspace_id, resource, waiter_seq)
             SELECT $1, k, waiter.seq FROM waiter, unnest($10::text[]) AS k
             ON CONFLICT DO NOTHING)
         SELECT seq FROM waiter",
        &[
            &agent.workspace_id.as_str(),
            &agent.agent_id.as_str(),
            &agent.agent_name,
            &start.run_id.as_str(),
            &request,
            &deadline.unix_millis(),
            &alive_until(now).unix_millis(),
            &replica.as_i64(),
            &now.unix_millis(),
            &keys,
        ],
    )
    .await?;
    get(&row, 0)
}

/// Takes a waiter out of the queue (granted, answered or gone); its keys
/// go with it.
pub(super) async fn leave<C: GenericClient>(client: &C, seq: i64) -> StoreResult<()> {
    execute(client, "DELETE FROM waiters WHERE seq = $1", &[&seq]).await?;
    Ok(())
}

/// Keeps a replica's waiters in the queue; drops the rows of waiters whose
/// replica stopped renewing them or whose wait is over.
pub(super) async fn renew<C: GenericClient>(
    client: &C,
    clock: &Clock,
    replica: Replica,
) -> StoreResult<()> {
    let now = now(client, clock).await?;
    execute(
        client,
        "UPDATE waiters SET alive_until = $2 WHERE replica = $1",
        &[&replica.as_i64(), &alive_until(now).unix_millis()],
    )
    .await?;
    execute(
        client,
        "DELETE FROM waiters WHERE alive_until <= $1 OR deadline_at <= $1",
        &[&now.unix_millis()],
    )
    .await?;
    Ok(())
}

/// Tells every replica that something in the workspace was released, when
/// anyone there waits. Run after the release's locks: a waiter queued
/// before them is seen.
pub(super) async fn notify_freed<C: GenericClient>(
    client: &C,
    channel: &str,
    workspace_id: &str,
) -> StoreResult<()> {
    execute(
        client,
        "SELECT pg_notify($1, 'f' || $2)
         WHERE EXISTS (SELECT 1 FROM waiters WHERE workspace_id = $2)",
        &[&channel, &workspace_id],
    )
    .await?;
    Ok(())
}

/// Grants, in arrival order, the live waiters on `keys` (resources and the
/// plan key; those before `before`, if given) that can be served now, and
/// wakes them on every replica once committed.
pub(super) async fn serve<C: GenericClient>(
    client: &C,
    clock: &Clock,
    workspace_id: &str,
    keys: Option<&[String]>,
    before: Option<i64>,
    channel: &str,
) -> StoreResult<Served> {
    // One queue at a time per workspace: a serving transaction locks its
    // waiters' resources as well as its own.
    execute(
        client,
        "SELECT pg_advisory_xact_lock(7, hashtext($1))",
        &[&workspace_id],
    )
    .await?;
    let now = now(client, clock).await?;
    // Rows of waiters whose replica stopped renewing them, or whose wait
    // is over, go first: `anyone_waiting` then stops finding them.
    execute(
        client,
        "DELETE FROM waiters WHERE workspace_id = $1 AND (alive_until <= $2 OR deadline_at <= $2)",
        &[&workspace_id, &now.unix_millis()],
    )
    .await?;
    let waiters = rows(
        client,
        &format!(
            "SELECT w.seq, w.agent_id, w.agent_name, w.request FROM waiters w
             WHERE w.workspace_id = $1
               AND ($2::text[] IS NULL OR w.seq IN (SELECT waiter_seq FROM waiter_keys
                                                    WHERE workspace_id = $1 AND resource = ANY($2)))
               AND w.seq < $3 AND w.alive_until > $4 AND w.deadline_at > $4
             ORDER BY w.seq LIMIT {SERVE_BATCH}"
        ),
        &[
            &workspace_id,
            &keys,
            &before.unwrap_or(i64::MAX),
            &now.unix_millis(),
        ],
    )
    .await?;
    let mut served = Served::default();
    for row in waiters {
        let seq: i64 = get(&row, 0)?;
        let request: String = get(&row, 3)?;
        let Some(start) = QueuedStart::from_json(&request) else {
            // A row this server cannot read again gives up its place.
            leave(client, seq).await?;
            continue;
        };
        let agent = AgentContext {
            agent_id: AgentId::new(get::<String>(&row, 1)?),
            agent_name: get(&row, 2)?,
            workspace_id: WorkspaceId::new(workspace_id),
            last_used_at: None,
        };
        let retry = Queueing::Retry { seq };
        match start_one(client, clock, &agent, start, retry, Serving::Done).await {
            Ok(Step::Done(StartOutcome::Answered(_))) => served.granted.push(seq),
            Ok(_) => {}
            // A waiter refused now (its agent deleted, say) leaves, and is
            // woken to learn why.
            Err(StoreError::Refused(_)) => {
                leave(client, seq).await?;
                served.granted.push(seq);
            }
            Err(e) => return Err(e),
        }
    }
    notify_granted(client, channel, &served).await?;
    Ok(served)
}

/// Wakes granted waiters on every replica, once committed.
async fn notify_granted<C: GenericClient>(
    client: &C,
    channel: &str,
    served: &Served,
) -> StoreResult<()> {
    if served.granted.is_empty() {
        return Ok(());
    }
    let seqs: Vec<String> = served.granted.iter().map(ToString::to_string).collect();
    let payload = format!("g{}", seqs.join(","));
    execute(client, "SELECT pg_notify($1, $2)", &[&channel, &payload]).await?;
    Ok(())
}

/// A notification's payload as a signal.
fn signal_of(payload: &str) -> Option<QueueSignal> {
    if let Some(workspace_id) = payload.strip_prefix('f') {
        return Some(QueueSignal::Freed {
            workspace_id: workspace_id.to_owned(),
        });
    }
    let seqs = payload.strip_prefix('g')?;
    let seqs = seqs
        .split(',')
        .map(|s| s.parse().ok())
        .collect::<Option<Vec<i64>>>()?;
    Some(QueueSignal::Granted(seqs))
}

/// A replica's one `LISTEN` connection, opened when its first waiter
/// queues, reopened when lost (with a [`QueueSignal::Resync`], since
/// notifications may have been missed meanwhile), closed with the store.
pub(super) struct Listener {
    config: tokio_postgres::Config,
    channel: String,
    signals: SignalSender,
    started: OnceCell<ListenTask>,
}

/// Aborts the listening task when the store goes.
struct ListenTask(tokio::task::AbortHandle);

impl Drop for ListenTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Listener {
    pub(super) fn new(
        config: tokio_postgres::Config,
        channel: String,
        signals: SignalSender,
    ) -> Self {
        Self {
            config,
            channel,
            signals,
            started: OnceCell::new(),
        }
    }

    /// Makes sure the replica listens; answers once it does (or after a
    /// first failed try, leaving the task to keep trying).
    pub(super) async fn ensure(&self) {
        self.started
            .get_or_init(|| async {
                let (ready, listening) = tokio::sync::oneshot::channel();
                let task = tokio::spawn(listen(
                    self.config.clone(),
                    self.channel.clone(),
                    self.signals.clone(),
                    ready,
                ));
                let _ = tokio::time::timeout(Duration::from_secs(5), listening).await;
                ListenTask(task.abort_handle())
            })
            .await;
    }
}

async fn listen(
    config: tokio_postgres::Config,
    channel: String,
    signals: SignalSender,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut ready = Some(ready);
    let mut first = true;
    loop {
        match config.connect(NoTls).await {
            Ok((client, mut connection)) => {
                let (messages_tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
                let pump = tokio::spawn(async move {
                    let mut stream =
                        futures::stream::poll_fn(move |cx| connection.poll_message(cx));
                    while let Some(Ok(message)) = stream.next().await {
                        if messages_tx.send(message).is_err() {
                            break;
                        }
                    }
                });
                let pump = AbortOnDrop(pump.abort_handle());
                let statement = format!("LISTEN {channel}");
                if client.batch_execute(&statement).await.is_ok() {
                    if !first {
                        let _ = signals.send(QueueSignal::Resync);
                    }
                    first = false;
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                    while let Some(message) = messages.recv().await {
                        if let AsyncMessage::Notification(note) = message
                            && let Some(signal) = signal_of(note.payload())
                        {
                            let _ = signals.send(signal);
                        }
                    }
                }
                drop(pump);
                drop(client);
                tracing::warn!("the queue's notification connection closed; reconnecting");
            }
            Err(error) => {
                tracing::warn!(
                    error = %super::describe(&error),
                    "cannot open the queue's notification connection; retrying"
                );
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_become_signals() {
        assert_eq!(
            signal_of("fws_1"),
            Some(QueueSignal::Freed {
                workspace_id: "ws_1".into()
            })
        );
        assert_eq!(signal_of("g3,4"), Some(QueueSignal::Granted(vec![3, 4])));
        assert_eq!(signal_of("gx"), None);
        assert_eq!(signal_of("?"), None);
    }

    #[test]
    fn channels_differ_by_schema_and_are_identifiers() {
        let a = channel_name(Some("t1"));
        assert_ne!(a, channel_name(Some("t2")));
        assert!(a.len() < 63);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
    }
}
