//! Accepting and serving HTTP connections within limits, so that a client
//! cannot take the server down by holding connections open:
//! - a request's header must arrive within the header-read timeout, which
//!   also closes a keep-alive connection idle that long (hyper runs one
//!   timer for both: it starts whenever the connection waits for a header);
//! - a header is at most [`MAX_HEADER_BYTES`], so a half-sent one buffers
//!   little;
//! - at most `max_connections` are open at once; past that, new ones wait
//!   in the listen backlog and a warning says so;
//! - on shutdown, connections get `shutdown_timeout` to finish their
//!   requests, and whatever is still open then is dropped.
//!
//! axum's own `serve` has none of these, so connections are served here
//! with hyper's HTTP/1 server directly (which axum is built on).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Largest request header (request line included), in bytes. A bigger one
/// is answered `431 Request Header Fields Too Large`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Largest read buffer of a connection, in bytes: a body streams through
/// it, so it need not hold a whole one.
const MAX_BUFFER_BYTES: usize = 64 * 1024;

/// Default most connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default time for a request's header to arrive (and for a keep-alive
/// connection to stay idle).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Default time connections get to finish on shutdown.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// How long accepting pauses after the process ran out of file
/// descriptors (or memory for sockets), so that the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What one client may hold of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// Time for a request's header to arrive; also the keep-alive idle
    /// timeout.
    pub header_read_timeout: Duration,
    /// Time connections get to finish on shutdown before they are dropped.
    pub shutdown_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets open
/// connections finish for at most `limits.shutdown_timeout`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (closing, closing_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    let mut at_limit = false;
    loop {
        // Reap finished connections so the set does not grow.
        while connections.try_join_next().is_some() {}
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => {
                at_limit = false;
                slot
            }
            Err(_) => {
                if !at_limit {
                    at_limit = true;
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached: new connections wait until one closes (raise --max-connections if this is load, not an attack)"
                    );
                }
                tokio::select! {
                    slot = Arc::clone(&slots).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Answers are small and written at once: send them without waiting
        // for the client's ACK of the previous one (Nagle's algorithm).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        let app = app.clone();
        let mut closing = closing_rx.clone();
        connections.spawn(async move {
            let _slot = slot;
            let service = TowerToHyperService::new(app.map_request(
                move |mut request: axum::http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    request
                },
            ));
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(MAX_BUFFER_BYTES);
            http.max_header_size(MAX_HEADER_BYTES);
            let connection = http.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let closing = async move {
                // The guard `wait_for` answers is not kept across an await.
                let _ = closing.wait_for(|closing| *closing).await.map(|_| ());
            };
            tokio::select! {
                served = connection.as_mut() => log_end(served, peer),
                () = closing => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await, peer);
                }
            }
        });
    }
    drop(listener);
    let open = connections.len();
    let _ = closing.send(true);
    if open > 0 {
        tracing::info!(
            open,
            timeout = ?limits.shutdown_timeout,
            "finishing open connections"
        );
    }
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        let dropped = connections.len();
        connections.abort_all();
        while connections.join_next().await.is_some() {}
        tracing::warn!(
            dropped,
            timeout = ?limits.shutdown_timeout,
            "shutdown deadline passed: dropped the connections still open"
        );
    }
}

/// Waits out an accept error that would repeat at once (no file
/// descriptors or socket memory left) after saying so; others (a client
/// that reset before it was accepted) are only logged.
async fn accept_failed(e: &std::io::Error) {
    let exhausted = matches!(e.raw_os_error(), Some(code) if is_resource_exhaustion(code));
    if exhausted {
        tracing::error!(error = %e, "cannot accept connections: out of file descriptors or socket memory; retrying");
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    } else {
        tracing::debug!(error = %e, "accept failed");
    }
}

/// EMFILE, ENFILE, ENOBUFS or ENOMEM.
fn is_resource_exhaustion(code: i32) -> bool {
    #[cfg(unix)]
    {
        use rustix::io::Errno;
        [Errno::MFILE, Errno::NFILE, Errno::NOBUFS, Errno::NOMEM]
            .iter()
            .any(|errno| errno.raw_os_error() == code)
    }
    #[cfg(not(unix))]
    {
        let _ = code;
        false
    }
}

fn log_end(served: Result<(), hyper::Error>, peer: SocketAddr) {
    match served {
        Ok(()) => {}
        Err(e) if e.is_timeout() => {
            tracing::debug!(%peer, "closed a connection whose header did not arrive in time");
        }
        Err(e) => tracing::debug!(%peer, error = %e, "connection ended with an error"),
    }
}
