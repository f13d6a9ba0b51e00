//! A fault-injecting TCP proxy: clients connect to it, it forwards to the
//! current upstream, and a chosen share of exchanges get a fault —
//! latency, a reset, a half-open connection or a stalled read.
//!
//! The fault is drawn per exchange — each request and its answer on a
//! connection — from a generator seeded per connection, so a run can be
//! repeated. The upstream can be swapped while
//! the proxy runs (a restarted server comes back on a new port), and with
//! several upstreams (replicas) new connections take turns among them; a
//! connection whose upstream is down is reset at once, as a dead host's
//! would be.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What one exchange (a request and its answer) suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded untouched.
    None,
    /// Every chunk, both ways, is delayed.
    Latency(Duration),
    /// After this many bytes from the server, both ends get a TCP reset.
    /// The request may well have been executed: the client never hears.
    Reset {
        /// Bytes of the answer let through first.
        after_bytes: usize,
    },
    /// After this many bytes from the server, nothing more is forwarded to
    /// the client, but the connection stays open: the client waits until its
    /// own timeout.
    HalfOpen {
        /// Bytes of the answer let through first.
        after_bytes: usize,
    },
    /// After this many bytes from the client, reading stops for a while and
    /// then goes on: a request that arrives late.
    Stall {
        /// Bytes of the request let through first.
        after_bytes: usize,
        /// How long reading stops.
        pause: Duration,
    },
}

/// The kinds of fault, for counting.
pub const FAULT_KINDS: [&str; 4] = ["latency", "reset", "half_open", "stall"];

impl Fault {
    fn kind_index(self) -> Option<usize> {
        match self {
            Self::None => None,
            Self::Latency(_) => Some(0),
            Self::Reset { .. } => Some(1),
            Self::HalfOpen { .. } => Some(2),
            Self::Stall { .. } => Some(3),
        }
    }
}

/// How often and how hard faults strike.
#[derive(Debug, Clone, Copy)]
pub struct FaultSettings {
    /// Share of exchanges that get a fault, 0.0 to 1.0.
    pub rate: f64,
    /// Upper bound of injected latency per chunk.
    pub max_latency: Duration,
    /// Upper bound of a stall.
    pub max_stall: Duration,
}

impl FaultSettings {
    /// Draws the fault for one exchange.
    pub fn draw(&self, rng: &mut impl Rng) -> Fault {
        if !rng.random_bool(self.rate.clamp(0.0, 1.0)) {
            return Fault::None;
        }
        let max_latency = u64::try_from(self.max_latency.as_millis()).unwrap_or(u64::MAX);
        let max_stall = u64::try_from(self.max_stall.as_millis()).unwrap_or(u64::MAX);
        match rng.random_range(0..4) {
            0 => Fault::Latency(Duration::from_millis(
                rng.random_range(1..=max_latency.max(1)),
            )),
            1 => Fault::Reset {
                after_bytes: rng.random_range(0..1500),
            },
            2 => Fault::HalfOpen {
                after_bytes: rng.random_range(0..1500),
            },
            _ => Fault::Stall {
                after_bytes: rng.random_range(0..400),
                pause: Duration::from_millis(rng.random_range(1..=max_stall.max(1))),
            },
        }
    }
}

/// Counters of what the proxy did.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Connections reset because the upstream was down.
    pub upstream_down: AtomicU64,
    /// Faults injected, by [`FAULT_KINDS`] index.
    pub faults: [AtomicU64; 4],
}

impl ProxyStats {
    /// Faults injected of every kind.
    pub fn total_faults(&self) -> u64 {
        self.faults.iter().map(|f| f.load(Ordering::Relaxed)).sum()
    }
}

struct Shared {
    upstreams: Mutex<Vec<SocketAddr>>,
    settings: Mutex<FaultSettings>,
    /// Faults the next exchanges get, whatever the draw, in order.
    forced: Mutex<std::collections::VecDeque<Fault>>,
    enabled: AtomicBool,
    stats: ProxyStats,
    seed: u64,
}

/// A running proxy. Dropping it stops accepting; open connections end when
/// either side closes.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(
        upstream: SocketAddr,
        settings: FaultSettings,
        seed: u64,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstreams: Mutex::new(vec![upstream]),
            settings: Mutex::new(settings),
            forced: Mutex::new(std::collections::VecDeque::new()),
            enabled: AtomicBool::new(true),
            stats: ProxyStats::default(),
            seed,
        });
        let acceptor = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        Ok(Self {
            addr,
            shared,
            acceptor,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Points new connections at another upstream.
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.set_upstreams(vec![upstream]);
    }

    /// Spreads new connections over these upstreams, in turn.
    pub fn set_upstreams(&self, upstreams: Vec<SocketAddr>) {
        if !upstreams.is_empty() {
            *lock(&self.shared.upstreams) = upstreams;
        }
    }

    /// Gives the next `count` exchanges, on any connection, this fault —
    /// for tests that need one fault at one moment.
    pub fn force_next(&self, count: usize, fault: Fault) {
        lock(&self.shared.forced).extend(std::iter::repeat_n(fault, count));
    }

    /// Turns fault injection on or off for new exchanges.
    pub fn set_faults_enabled(&self, enabled: bool) {
        self.shared.enabled.store(enabled, Ordering::Relaxed);
    }

    /// What the proxy has done so far.
    pub fn stats(&self) -> &ProxyStats {
        &self.shared.stats
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut number: u64 = 0;
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors or similar: back off and go on.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        number += 1;
        shared.stats.connections.fetch_add(1, Ordering::Relaxed);
        let rng = StdRng::seed_from_u64(shared.seed ^ number.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let upstream = {
            let upstreams = lock(&shared.upstreams);
            upstreams[usize::try_from(number).unwrap_or(0) % upstreams.len()]
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            serve_connection(client, upstream, rng, &shared).await;
        });
    }
}

/// One request and its answer on a connection: the fault drawn for it and
/// how far each way it has got. A new exchange begins when the client sends
/// after the server has answered.
struct Exchange {
    rng: StdRng,
    fault: Fault,
    to_server: usize,
    to_client: usize,
    stalled: bool,
}

impl Exchange {
    /// Called for each chunk the client sends.
    fn client_sent(&mut self, shared: &Shared) {
        if self.to_client == 0 && self.to_server > 0 {
            return; // the same request, still arriving
        }
        let forced = lock(&shared.forced).pop_front();
        self.fault = match forced {
            Some(fault) => fault,
            None if shared.enabled.load(Ordering::Relaxed) => {
                lock(&shared.settings).draw(&mut self.rng)
            }
            None => Fault::None,
        };
        if let Some(kind) = self.fault.kind_index() {
            shared.stats.faults[kind].fetch_add(1, Ordering::Relaxed);
        }
        self.to_server = 0;
        self.to_client = 0;
        self.stalled = false;
    }
}

async fn serve_connection(client: TcpStream, upstream: SocketAddr, rng: StdRng, shared: &Shared) {
    let _ = client.set_nodelay(true);
    let server =
        match tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(upstream)).await {
            Ok(Ok(server)) => server,
            _ => {
                shared.stats.upstream_down.fetch_add(1, Ordering::Relaxed);
                reset(client);
                return;
            }
        };
    let _ = server.set_nodelay(true);
    let exchange = Mutex::new(Exchange {
        rng,
        fault: Fault::None,
        to_server: 0,
        to_client: 0,
        stalled: false,
    });
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let ended = tokio::select! {
        ended = pump(&mut client_read, &mut server_write, Direction::ToServer, &exchange, shared) => ended,
        ended = pump(&mut server_read, &mut client_write, Direction::ToClient, &exchange, shared) => ended,
    };
    if ended == Ended::Reset
        && let (Ok(client), Ok(server)) = (
            client_read.reunite(client_write),
            server_read.reunite(server_write),
        )
    {
        reset(client);
        reset(server);
    }
}

/// Closes with RST instead of FIN.
fn reset(stream: TcpStream) {
    #[allow(deprecated)] // the blocking-close concern does not apply to a zero linger
    let _ = stream.set_linger(Some(Duration::ZERO));
    drop(stream);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToServer,
    ToClient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Closed,
    Reset,
}

/// What to do with one chunk.
enum Action {
    Forward {
        delay: Duration,
    },
    /// Forward the first `keep` bytes, then reset both ends.
    Reset {
        keep: usize,
    },
    /// Forward the first `keep` bytes, then forward nothing more.
    Swallow {
        keep: usize,
    },
    /// Forward the first `keep` bytes, pause, then the rest.
    Stall {
        keep: usize,
        pause: Duration,
    },
}

fn decide(exchange: &Mutex<Exchange>, direction: Direction, len: usize, shared: &Shared) -> Action {
    let mut ex = lock(exchange);
    if direction == Direction::ToServer {
        ex.client_sent(shared);
    }
    let sent = match direction {
        Direction::ToServer => ex.to_server,
        Direction::ToClient => ex.to_client,
    };
    let action = match (ex.fault, direction) {
        (Fault::Latency(delay), _) => Action::Forward { delay },
        (Fault::Reset { after_bytes }, Direction::ToClient) if sent + len > after_bytes => {
            Action::Reset {
                keep: after_bytes.saturating_sub(sent),
            }
        }
        (Fault::HalfOpen { after_bytes }, Direction::ToClient) if sent + len > after_bytes => {
            Action::Swallow {
                keep: after_bytes.saturating_sub(sent),
            }
        }
        (Fault::Stall { after_bytes, pause }, Direction::ToServer)
            if !ex.stalled && sent + len > after_bytes =>
        {
            ex.stalled = true;
            Action::Stall {
                keep: after_bytes.saturating_sub(sent),
                pause,
            }
        }
        _ => Action::Forward {
            delay: Duration::ZERO,
        },
    };
    match direction {
        Direction::ToServer => ex.to_server += len,
        Direction::ToClient => ex.to_client += len,
    }
    action
}

async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    direction: Direction,
    exchange: &Mutex<Exchange>,
    shared: &Shared,
) -> Ended {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return Ended::Closed,
            Ok(n) => n,
        };
        let chunk = &buffer[..n];
        let rest = match decide(exchange, direction, n, shared) {
            Action::Forward { delay } => {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                chunk
            }
            Action::Reset { keep } => {
                let _ = to.write_all(&chunk[..keep]).await;
                return Ended::Reset;
            }
            Action::Swallow { keep } => {
                let _ = to.write_all(&chunk[..keep]).await;
                // Hold the connection open, forwarding nothing, until the
                // client gives up and closes its side.
                std::future::pending::<()>().await;
                return Ended::Closed;
            }
            Action::Stall { keep, pause } => {
                if to.write_all(&chunk[..keep]).await.is_err() {
                    return Ended::Closed;
                }
                tokio::time::sleep(pause).await;
                &chunk[keep..]
            }
        };
        if to.write_all(rest).await.is_err() {
            return Ended::Closed;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_repeatable_and_respect_the_rate() {
        let settings = FaultSettings {
            rate: 0.25,
            max_latency: Duration::from_millis(100),
            max_stall: Duration::from_secs(1),
        };
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..1000)
                .map(|_| settings.draw(&mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        let faulty = draw(7).iter().filter(|f| **f != Fault::None).count();
        assert!((150..350).contains(&faulty), "{faulty} of 1000");
    }

    #[tokio::test]
    async fn forwards_untouched_and_resets_when_the_upstream_is_down() {
        let echo = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        let clean = FaultSettings {
            rate: 0.0,
            max_latency: Duration::ZERO,
            max_stall: Duration::ZERO,
        };
        let proxy = FaultProxy::start(upstream, clean, 1).await.unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        stream.write_all(b"hello").await.unwrap();
        let mut answer = [0u8; 5];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"hello");

        // Nothing listens on the new upstream: the client is reset.
        let dead = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        proxy.set_upstream(dead.local_addr().unwrap());
        drop(dead);
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        let mut byte = [0u8; 1];
        let read = stream.read(&mut byte).await;
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        assert_eq!(proxy.stats().upstream_down.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_reset_fault_cuts_the_answer_short() {
        let server = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let upstream = server.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = server.accept().await.unwrap();
            let mut request = [0u8; 4];
            socket.read_exact(&mut request).await.unwrap();
            socket.write_all(&[7u8; 4096]).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let always_reset = FaultSettings {
            rate: 1.0,
            max_latency: Duration::ZERO,
            max_stall: Duration::ZERO,
        };
        // Find a seed whose first connection draws a reset.
        let seed = (0..1000u64)
            .find(|seed| {
                let mut rng =
                    StdRng::seed_from_u64(seed ^ 1u64.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                matches!(always_reset.draw(&mut rng), Fault::Reset { .. })
            })
            .unwrap();
        let proxy = FaultProxy::start(upstream, always_reset, seed)
            .await
            .unwrap();
        let mut stream = TcpStream::connect(proxy.addr()).await.unwrap();
        stream.write_all(b"ping").await.unwrap();
        let mut received = Vec::new();
        let result = stream.read_to_end(&mut received).await;
        assert!(received.len() < 4096, "got all {} bytes", received.len());
        assert!(result.is_err() || received.len() < 1500, "{result:?}");
        assert_eq!(proxy.stats().faults[1].load(Ordering::Relaxed), 1);
    }
}
