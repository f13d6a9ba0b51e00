//! How a server is started.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::app::hashing::HashingPool;
use crate::connections::ConnectionLimits;
use crate::domain::clock::Clock;
use crate::domain::signup_throttle::DEFAULT_MAX_SIGNUPS;
use crate::store::postgres::PostgresConfig;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// Default session lifetime: 7 days.
pub const DEFAULT_SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Default interval between background sweeps.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(5);
/// Default retention of activity events: 30 days (audit is kept forever).
pub const DEFAULT_ACTIVITY_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Default longest silence on an event stream.
pub const DEFAULT_EVENTS_KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Everything a server needs to start.
///
/// ```
/// use availsync_server::ServerConfig;
///
/// let config = ServerConfig::new("/tmp/availsync-data");
/// assert_eq!(config.listen.to_string(), "127.0.0.1:8787");
/// assert!(!config.insecure_http);
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory holding the embedded SQLite database (unused when
    /// `database` is set).
    pub data_dir: PathBuf,
    /// A shared PostgreSQL database instead of the embedded SQLite one, so
    /// several replicas can serve together.
    pub database: Option<PostgresConfig>,
    /// Public URL of the server (for the Origin check); default
    /// `http://<bound address>`.
    pub public_url: Option<String>,
    /// Drops the cookie's `Secure` flag, for plain-HTTP local use.
    pub insecure_http: bool,
    /// How long a human session lasts.
    pub session_ttl: Duration,
    /// The clock decisions are made with.
    pub clock: Clock,
    /// How often lapsed claims and holds are recorded and old activity pruned.
    pub sweep_interval: Duration,
    /// How long activity events are kept.
    pub activity_retention: Duration,
    /// What one client may hold of the server: connections, header time,
    /// and the time connections get on shutdown.
    pub limits: ConnectionLimits,
    /// Whether the first `X-Forwarded-For` hop names the client, for
    /// throttling (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Passwords hashed at once (each takes about 19 MiB and a core).
    pub password_hashing_places: usize,
    /// Sign-ups one client address may make within ten minutes.
    pub signups_per_client: u32,
    /// Where `GET /metrics` is served, apart from the API (off when `None`).
    pub metrics_listen: Option<SocketAddr>,
    /// Longest silence on an event stream before a comment line keeps it
    /// open (SPEC §14: at most 15 s).
    pub events_keep_alive: Duration,
    /// Events an event stream may fall behind before it is closed with a
    /// `lagged` event.
    pub events_buffer: usize,
}

impl ServerConfig {
    /// The defaults, with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8787))),
            data_dir: data_dir.into(),
            database: None,
            public_url: None,
            insecure_http: false,
            session_ttl: DEFAULT_SESSION_TTL,
            clock: Clock::system(),
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            activity_retention: DEFAULT_ACTIVITY_RETENTION,
            limits: ConnectionLimits::default(),
            trust_forwarded_for: false,
            password_hashing_places: HashingPool::default_size(),
            signups_per_client: DEFAULT_MAX_SIGNUPS,
            metrics_listen: None,
            events_keep_alive: DEFAULT_EVENTS_KEEP_ALIVE,
            events_buffer: crate::app::event_hub::DEFAULT_BUFFER,
        }
    }

    /// A server for tests and examples: loopback, a free port, plain HTTP,
    /// and room for the many sign-ups a test suite makes from one address.
    pub fn ephemeral(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            insecure_http: true,
            signups_per_client: 10_000,
            ..Self::new(data_dir)
        }
    }
}

/// The platform's data directory plus `availsync` (e.g.
/// `~/.local/share/availsync` on Linux), or `./availsync-data` when the
/// platform has none.
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .map(|d| d.join("availsync"))
        .unwrap_or_else(|| PathBuf::from("availsync-data"))
}
