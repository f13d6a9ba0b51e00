//! The Availsync reference server: durable work claims (TTL leases with
//! fencing tokens), workspaces, agents and keys over HTTP, exactly per the
//! v1 specification.
//!
//! It runs as the `availsync-server` binary, or in-process for tests and
//! examples:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use availsync_server::{RunningServer, ServerConfig};
//!
//! let dir = tempfile::tempdir()?;
//! let server = RunningServer::start(ServerConfig::ephemeral(dir.path())).await?;
//! // Point a client at server.url() ...
//! server.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Inside, the folders name the layers: `http/` (routes, extractors, the
//! error envelope), `dashboard/` (the workspace's HTML pages), `app/` (the
//! use cases both share), `domain/` (every rule and event, no HTTP, no
//! SQL) and `store/` (all SQL, one backend per folder). The public surface
//! is what embedding programs, tests, the chaos soak and the fuzz targets
//! use: starting and stopping a server, its configuration, operator
//! commands, and (in [`parsers`]) the parsers of untrusted input.

mod app;
pub mod config;
mod connections;
mod dashboard;
mod domain;
mod http;
mod metrics;
mod server;
mod store;

pub use config::{ServerConfig, default_data_dir};
pub use connections::{
    ConnectionLimits, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_SHUTDOWN_TIMEOUT,
};
pub use dashboard::CONTENT_SECURITY_POLICY;
pub use domain::clock::Clock;
pub use domain::refusal::Refusal;
pub use domain::signup_throttle::DEFAULT_MAX_SIGNUPS;
pub use server::{Bound, OperatorError, RunningServer, StartError, bind, set_plan};
pub use store::postgres::{DEFAULT_POOL_SIZE, PgOpenError, PostgresConfig};
pub use store::sqlite::OpenError;
pub use store::{StoreError, SweepReport};

/// The parsers of untrusted input, exactly as the handlers run them, for
/// the fuzz targets in `fuzz/` and property tests.
pub mod parsers {
    pub use crate::domain::schedule::Window;
    pub use crate::domain::validate::{self, Invalid, InvalidKind};
    pub use crate::http::{ApiError, availability_params, decode_json_body};
}

/// The OpenAPI document of the v1 API, as pretty JSON.
pub fn openapi_json() -> String {
    http::openapi::document()
}
