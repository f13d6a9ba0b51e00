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
//! The layers are separate modules: [`http`] (routes, extractors, errors),
//! [`domain`] (rules, no HTTP, no SQL) and [`store`] (all SQL, behind the
//! [`store::Store`] trait).

pub mod app;
pub mod config;
pub mod connections;
pub mod dashboard;
pub mod domain;
pub mod http;
pub mod metrics;
pub mod server;
pub mod store;

pub use config::{ServerConfig, default_data_dir};
pub use domain::clock::Clock;
pub use server::{Bound, RunningServer, StartError, bind, open_store};

/// The OpenAPI document of the v1 API, as pretty JSON.
pub fn openapi_json() -> String {
    http::openapi::document()
}
