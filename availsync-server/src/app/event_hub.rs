//! One reader of committed activity per server process, fanned out to
//! every open event stream (`GET /v1/events`).
//!
//! The hub follows the whole store's activity in feed order
//! ([`crate::store::cursor`]) from the position it had when the server
//! started, and broadcasts each event once, on a bounded channel. It reads
//! when one of this process's commits wakes it
//! ([`Store::activity_committed`]) and at least every [`RE_READ`]: for
//! other replicas' commits, and for events that commit behind a long
//! transaction and so become readable later than their commit.
//!
//! Other replicas are found by that periodic read rather than by
//! `LISTEN`/`NOTIFY`: a notifying transaction takes PostgreSQL's one
//! notification lock from its commit until it is durable, so every
//! activity-writing commit of every replica (of every store on the cluster)
//! would wait in one line; under the test suite's load that held
//! transactions, and with them every feed (store/cursor.rs), back by
//! seconds. One indexed read four times a second per replica costs less.
//!
//! A stream never waits on the hub: it catches up from the store itself,
//! then follows the broadcast, skipping what it has already sent. The
//! channel holds the last `ServerConfig::events_buffer` events; a stream that
//! falls further behind (its client reads too slowly) is told so and
//! closed, rather than buffered without bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::store::cursor::Position;
use crate::store::{FeedEvent, FeedScope, Store, StoreResult};

/// Longest wait between two reads, whatever wakes the hub.
pub const RE_READ: Duration = Duration::from_millis(250);

/// Events read at once.
pub const READ_BATCH: u32 = 500;

/// Default number of events the broadcast keeps for streams that are
/// behind.
pub const DEFAULT_BUFFER: usize = 1024;

/// The server's one follower of the activity feed.
pub struct EventHub {
    sender: broadcast::Sender<Arc<FeedEvent>>,
    stop: watch::Sender<bool>,
    buffer: usize,
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub")
            .field("buffer", &self.buffer)
            .finish_non_exhaustive()
    }
}

impl EventHub {
    /// Reads where the feed stands now and follows it from there in a
    /// background task, until [`EventHub::shut_down`].
    pub async fn start(store: Arc<dyn Store>, buffer: usize) -> StoreResult<Arc<Self>> {
        let buffer = buffer.max(1);
        let wakeups = store.activity_committed();
        let position = store.activity_head().await?;
        let (sender, _) = broadcast::channel(buffer);
        let (stop, stopping) = watch::channel(false);
        let hub = Arc::new(Self {
            sender: sender.clone(),
            stop,
            buffer,
        });
        tokio::spawn(async move {
            let mut stopping = stopping;
            let mut position = position;
            loop {
                tokio::select! {
                    () = wakeups.notified() => {}
                    () = tokio::time::sleep(RE_READ) => {}
                    _ = stopping.wait_for(|stop| *stop) => return,
                }
                position = follow(store.as_ref(), &sender, position).await;
            }
        });
        Ok(hub)
    }

    /// Events from now on (those with a later position than the hub had
    /// when this is called).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<FeedEvent>> {
        self.sender.subscribe()
    }

    /// Becomes true when the server stops: every stream ends then.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Stops following and ends every stream.
    pub fn shut_down(&self) {
        let _ = self.stop.send(true);
    }
}

/// Broadcasts every committed event after `position`; answers the
/// position of the last one sent.
async fn follow(
    store: &dyn Store,
    sender: &broadcast::Sender<Arc<FeedEvent>>,
    mut position: Position,
) -> Position {
    loop {
        match store
            .activity_since(FeedScope::All, position, READ_BATCH)
            .await
        {
            Ok(events) => {
                let full = events.len() == READ_BATCH as usize;
                for event in events {
                    position = event.position;
                    // No subscriber is not an error: nobody is streaming.
                    let _ = sender.send(Arc::new(event));
                }
                if !full {
                    return position;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the event stream could not read activity; will retry");
                return position;
            }
        }
    }
}
