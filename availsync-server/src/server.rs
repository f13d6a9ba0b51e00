//! Binding, serving and shutting down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::app::Services;
use crate::app::event_hub::EventHub;
use crate::app::hashing::HashingPool;
use crate::app::waiting::WaitQueue;
use crate::config::ServerConfig;
use crate::connections;
use crate::dashboard;
use crate::domain::signup_throttle::SignupThrottle;
use crate::http::{self, AppState, HttpConfig};
use crate::store::postgres::{PgOpenError, PostgresStore};
use crate::store::sqlite::{OpenError, SqliteStore};
use crate::store::{Store, StoreError, SweepReport};
use availsync_types::{Plan, Workspace};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The SQLite store could not be opened.
    #[error(transparent)]
    Store(#[from] OpenError),
    /// The PostgreSQL store could not be opened.
    #[error(transparent)]
    Postgres(#[from] PgOpenError),
    /// The activity feed could not be read to start the event stream.
    #[error("cannot read the activity feed: {0}")]
    Events(StoreError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// A server running in the background of this process.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use availsync_server::{RunningServer, ServerConfig};
///
/// let dir = tempfile::tempdir()?;
/// let server = RunningServer::start(ServerConfig::ephemeral(dir.path())).await?;
/// println!("listening on {}", server.url());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct RunningServer {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    store: Arc<dyn Store>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Opens the store, binds, and serves in a background task.
    pub async fn start(config: ServerConfig) -> Result<Self, StartError> {
        let (shutdown, signal) = oneshot::channel::<()>();
        let store = open_store(&config).await?;
        let (bound, serve) = bind_with_store(config, Arc::clone(&store), async {
            let _ = signal.await;
        })
        .await?;
        let task = tokio::spawn(serve);
        Ok(Self {
            addr: bound.api,
            metrics_addr: bound.metrics,
            store,
            shutdown,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The metrics listener's address, when one was configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Changes a workspace's plan (by id, or by a name no other workspace
    /// has), as the operator's `set-plan` command does; takes effect at
    /// once.
    pub async fn set_plan(&self, workspace: &str, plan: Plan) -> Result<Workspace, StoreError> {
        self.store.set_plan(workspace, plan).await
    }

    /// Runs one background sweep now: records lapsed claims and holds,
    /// prunes activity older than `activity_retention`. For tests that
    /// move the clock.
    pub async fn sweep(&self, activity_retention: Duration) -> Result<SweepReport, StoreError> {
        self.store
            .sweep(i64::try_from(activity_retention.as_millis()).unwrap_or(i64::MAX))
            .await
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open connections finish (for at most the
    /// configured shutdown timeout), and waits.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        match self.task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "server stopped with an error"),
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
    }
}

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// The store could not be opened.
    #[error(transparent)]
    Open(#[from] StartError),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Changes a workspace's plan in the store `config` names, without a
/// running server (SQLite allows it while one runs; PostgreSQL always):
/// the operator's `set-plan` command.
pub async fn set_plan(
    config: &ServerConfig,
    workspace: &str,
    plan: Plan,
) -> Result<Workspace, OperatorError> {
    let store = open_store(config).await?;
    Ok(store.set_plan(workspace, plan).await?)
}

/// Opens the configured store: PostgreSQL when a database is set, else the
/// embedded SQLite in the data directory.
pub(crate) async fn open_store(config: &ServerConfig) -> Result<Arc<dyn Store>, StartError> {
    Ok(match &config.database {
        Some(database) => Arc::new(PostgresStore::open(database, config.clock.clone()).await?),
        None => Arc::new(SqliteStore::open(&config.data_dir, config.clock.clone())?),
    })
}

/// Where a server listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// The API, the dashboard and the health checks.
    pub api: SocketAddr,
    /// `GET /metrics`, when a metrics address was configured.
    pub metrics: Option<SocketAddr>,
}

/// Opens the store and binds; the returned future serves until `shutdown`
/// completes, then drains in-flight requests.
pub async fn bind(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Bound, impl Future<Output = std::io::Result<()>> + Send), StartError> {
    let store = open_store(&config).await?;
    bind_with_store(config, store, shutdown).await
}

/// Binds `addr`, answering the address actually bound (port 0 picks one).
async fn listen(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let failed = |source| StartError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(failed)?;
    let bound = listener.local_addr().map_err(failed)?;
    Ok((listener, bound))
}

async fn bind_with_store(
    config: ServerConfig,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Bound, impl Future<Output = std::io::Result<()>> + Send), StartError> {
    let (listener, addr) = listen(config.listen).await?;
    let metrics = match config.metrics_listen {
        Some(metrics_addr) => Some(listen(metrics_addr).await?),
        None => None,
    };
    let bound = Bound {
        api: addr,
        metrics: metrics.as_ref().map(|(_, addr)| *addr),
    };
    let public_origin = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let events = EventHub::start(Arc::clone(&store), config.events_buffer)
        .await
        .map_err(StartError::Events)?;
    let state = AppState {
        services: Services {
            events: Arc::clone(&events),
            store: Arc::clone(&store),
            hashing: HashingPool::new(config.password_hashing_places),
            signups: Arc::new(SignupThrottle::new(config.signups_per_client)),
            session_ttl: config.session_ttl,
            waits: WaitQueue::start(Arc::clone(&store)),
        },
        config: Arc::new(HttpConfig {
            public_origin,
            secure_cookies: !config.insecure_http,
            session_ttl: config.session_ttl,
            trust_forwarded_for: config.trust_forwarded_for,
            events_keep_alive: config.events_keep_alive,
        }),
    };
    // The API and the dashboard, one site.
    let site = http::router().merge(dashboard::router(state.clone()));
    let app = http::layered(site, state);
    let metrics_app = crate::metrics::router(Arc::clone(&store));
    let sweeper = sweep_loop(store, config.sweep_interval, config.activity_retention);
    let limits = config.limits;
    let serve = async move {
        let sweeper = tokio::spawn(sweeper);
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let stopped = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        };
        let metrics = metrics.map(|(listener, _)| {
            tokio::spawn(connections::serve(
                listener,
                metrics_app,
                limits,
                stopped(stopping.clone()),
            ))
        });
        let api = connections::serve(listener, app, limits, stopped(stopping));
        tokio::pin!(api);
        tokio::select! {
            () = &mut api => {}
            () = shutdown => {
                // Event streams never finish on their own: end them, so
                // that their connections can close.
                events.shut_down();
                let _ = stop.send(true);
                api.await;
            }
        }
        events.shut_down();
        let _ = stop.send(true);
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        sweeper.abort();
        Ok(())
    };
    Ok((bound, serve))
}

/// Records lapsed claims and holds and prunes old activity, every `interval`.
async fn sweep_loop(store: Arc<dyn Store>, interval: Duration, retention: Duration) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.sweep(retention_ms).await {
            Ok(report) if report != SweepReport::default() => {
                tracing::debug!(?report, "sweep");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "sweep failed; will retry"),
        }
    }
}
