//! Learning that activity committed on any replica: one dedicated
//! connection per store that `LISTEN`s on the channel the activity
//! table's trigger notifies (PostgreSQL migration 008), started when the
//! event stream first asks for it.
//!
//! A notification only wakes the event stream's reader, which then reads
//! the table; nothing is taken from the payload but the schema it names
//! (several stores may share one database in schemas of their own). A
//! lost connection is opened again after a pause, and the reader is woken
//! then too, for whatever committed meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{Notify, watch};
use tokio_postgres::{AsyncMessage, NoTls};

/// The channel the trigger notifies.
const CHANNEL: &str = "availsync_activity";

/// Pause before connecting again after the listening connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// Wakes the event stream when activity commits.
pub(super) struct ActivityListener {
    config: tokio_postgres::Config,
    schema: String,
    wakeups: Arc<Notify>,
    started: AtomicBool,
    stop: watch::Sender<bool>,
}

impl ActivityListener {
    pub(super) fn new(config: tokio_postgres::Config, schema: String) -> Self {
        Self {
            config,
            schema,
            wakeups: Arc::new(Notify::new()),
            started: AtomicBool::new(false),
            stop: watch::channel(false).0,
        }
    }

    /// A write of this replica committed.
    pub(super) fn committed_here(&self) {
        self.wakeups.notify_one();
    }

    /// The wake-ups, listening from now on (the first call starts the
    /// listening connection; it needs a Tokio runtime).
    pub(super) fn wakeups(&self) -> Arc<Notify> {
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(listen(
                self.config.clone(),
                self.schema.clone(),
                Arc::clone(&self.wakeups),
                self.stop.subscribe(),
            ));
        }
        Arc::clone(&self.wakeups)
    }
}

impl Drop for ActivityListener {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn listen(
    config: tokio_postgres::Config,
    schema: String,
    wakeups: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            ended = listen_once(&config, &schema, &wakeups) => {
                if let Err(e) = ended {
                    tracing::warn!(
                        error = %super::describe(&e),
                        "the event stream's database listener failed; reconnecting"
                    );
                }
            }
            _ = stop.wait_for(|stop| *stop) => return,
        }
        // Whatever committed while nobody listened.
        wakeups.notify_one();
        tokio::select! {
            () = tokio::time::sleep(RECONNECT_PAUSE) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
    }
}

/// Listens until the connection ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    schema: &str,
    wakeups: &Notify,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    let statement = format!("LISTEN {CHANNEL}");
    let listening = client.batch_execute(&statement);
    tokio::pin!(listening);
    let mut listened = false;
    loop {
        tokio::select! {
            done = &mut listening, if !listened => {
                done?;
                listened = true;
                wakeups.notify_one();
            }
            message = messages.next() => match message {
                Some(Ok(AsyncMessage::Notification(note))) => {
                    if note.channel() == CHANNEL && note.payload() == schema {
                        wakeups.notify_one();
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    }
}
