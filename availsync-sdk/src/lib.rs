//! The Availsync SDK: check in before you act.
//!
//! An automation claims a resource (`repo:owner/name`, `project:key`) before
//! it works on it, and gets a TTL lease — or a clear "skip": someone else is
//! working on it. The [`RunGuard`] keeps the lease alive in the background,
//! tells you at once if it is lost, and finishes the run when you are done.
//!
//! # Quick start
//!
//! ```no_run
//! use availsync_sdk::{Client, Outcome, RunStart, StartRun};
//! use std::time::Duration;
//!
//! # async fn demo() -> availsync_sdk::Result<()> {
//! // AVAILSYNC_URL (default http://127.0.0.1:8787) and AVAILSYNC_API_KEY.
//! let client = Client::from_env()?;
//!
//! let start = StartRun::new("repo:acme/web")?
//!     .ttl(Duration::from_secs(60))
//!     .purpose("nightly deploy");
//! match client.claim(start).await? {
//!     // Partial answers only a `.partial()` working-set start.
//!     RunStart::Claimed(guard) | RunStart::Partial(guard, _) => {
//!         let token = guard.cancellation_token();
//!         tokio::select! {
//!             _ = deploy(guard.fencing_token()) => guard.finish(Outcome::Succeeded).await?,
//!             _ = token.cancelled() => {
//!                 eprintln!("lease lost: stop writing");
//!                 guard.finish(Outcome::Cancelled).await?
//!             }
//!         };
//!     }
//!     RunStart::Skipped(skip) => {
//!         eprintln!("not now: {}", skip.reason.message);
//!     }
//!     RunStart::Observed(run) => {
//!         deploy(0).await;
//!         run.finish(Outcome::Succeeded).await?;
//!     }
//! }
//! # Ok(()) }
//! # async fn deploy(_fencing_token: u64) {}
//! ```
//!
//! Or let [`Client::guarded`] do all of that around a closure. To wait a
//! little for a busy resource instead of skipping at once, see
//! [`StartRun::wait`].
//!
//! # Working sets
//!
//! A claim on a `repo:` may hold only the paths the run will touch
//! ([`StartRun::working_set`]), so that agents whose paths cannot name one
//! file work in the same repository at once. The guard grows or shrinks
//! its paths as the work goes ([`RunGuard::add_paths`],
//! [`RunGuard::remove_paths`]); a path someone else holds is a skip naming
//! them ([`Skipped::conflicts`]), an [`Error::PathsClaimed`] for an add, or,
//! with [`StartRun::partial`], a [`RunStart::Partial`] grant of the free
//! ones.
//!
//! ```no_run
//! use availsync_sdk::{Client, Outcome, RunStart, StartRun, WorkingSetMode};
//!
//! # async fn demo(client: Client) -> availsync_sdk::Result<()> {
//! let start = StartRun::new("repo:acme/web")?
//!     .working_set(["src/api/", "docs/api.md"], WorkingSetMode::Edit)?
//!     .partial();
//! match client.claim(start).await? {
//!     RunStart::Claimed(guard) => {
//!         guard.add_paths(["src/db/schema.rs"]).await?;
//!         guard.finish(Outcome::Succeeded).await?;
//!     }
//!     RunStart::Partial(guard, blocked) => {
//!         for b in &blocked {
//!             eprintln!("{} is held by {}", b.path, b.holder.agent_name);
//!         }
//!         let held = guard.working_set().map(|set| set.paths).unwrap_or_default();
//!         eprintln!("working on {held:?} only");
//!         guard.finish(Outcome::Succeeded).await?;
//!     }
//!     RunStart::Skipped(skip) => {
//!         for c in skip.conflicts().iter().filter_map(|c| c.as_path()) {
//!             eprintln!("{:?} is held by {}", c.path, c.holder.agent_name);
//!         }
//!     }
//!     RunStart::Observed(run) => {
//!         run.finish(Outcome::Succeeded).await?;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # What the guard promises
//!
//! - It extends the lease about every ttl/3, and retries transient failures
//!   (connection errors, timeouts, 429, 502-504) until the lease would lapse
//!   by the local monotonic clock, less a safety margin.
//! - Its state goes held → uncertain (extends failing) → lost, observable as
//!   a [`tokio::sync::watch`] ([`RunGuard::watch`]); [`RunGuard::lost`] and
//!   [`RunGuard::cancellation_token`] fire as soon as the server says
//!   `lease_lost` or the local deadline passes — before the server would
//!   hand the resource to someone else.
//! - Dropping an unfinished guard finishes the run as `cancelled` in the
//!   background when a tokio runtime runs; otherwise the lease lapses.
//!
//! # Retries
//!
//! Idempotent calls are retried with jittered exponential backoff
//! ([`RetryPolicy`]). `run/start` always carries a client-chosen `run_id`
//! and hold creation an idempotency key, so a retry replays instead of
//! taking a second claim or hold.
//!
//! Humans' endpoints (sign-up, agents, keys, audit) are on [`AdminClient`].
//!
//! # The HTTP client
//!
//! Calls go over [`reqwest`] (re-exported): by default a client the SDK
//! builds (HTTP/1.1 keep-alive pool, proxies from `HTTPS_PROXY`,
//! `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` including SOCKS, no redirects,
//! none of reqwest's own retries), or your own through
//! [`ClientBuilder::http_client`], or your reqwest-middleware stack through
//! `ClientBuilder::middleware_client` (feature `middleware`). A TLS
//! handshake that failed for good is [`Error::is_tls_failure`] and is not
//! retried.
//!
//! # Tracing
//!
//! Every API call runs in a [`tracing`] span named `availsync.call` with
//! the fields `method`, `route` (the route template, e.g.
//! `/v1/holds/{hold_id}`), `run_id` and `resource` where the call names
//! them, `attempt`, `status` and, on failure, `error`. A guard's extend
//! loop runs in an `availsync.guard` span (`run_id`, `resource`,
//! `ttl_seconds`, `fencing_token`). No span or event holds the API key or
//! the session cookie.
//!
//! # Features
//!
//! - `rustls` (default): TLS through rustls, servers verified against the
//!   platform's trust store.
//! - `native-tls`: TLS through the platform's library (OpenSSL on Linux);
//!   with both on, native-tls is used.
//! - `middleware`: [`ClientBuilder`]`::middleware_client`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod admin;
mod client;
mod config;
pub mod credentials;
mod error;
mod events;
mod guard;
mod guarded;
mod http;
mod paging;
mod requests;
mod transport;

pub use admin::AdminClient;
pub use availsync_types as types;
pub use availsync_types::{Mode, Outcome, PathPattern, ResourceKey, Timestamp, WorkingSetMode};
pub use client::Client;
pub use config::{API_KEY_ENV, ClientBuilder, RetryPolicy, URL_ENV, URL_ENV_ALIAS};
pub use error::{ApiError, Error, PathsClaimed, Result};
pub use events::{EventFilter, SILENCE_LIMIT};
pub use guard::{Lease, LeaseState, LossReason, ObservedRun, RunGuard, RunStart, Skipped};
pub use guarded::Guarded;
pub use http::HttpError;
pub use requests::{
    ActivityQuery, AuditQuery, HoldsQuery, MAX_WAIT, NewHold, PathsChange, RunsQuery, StartRun,
    new_run_id,
};

/// The README's example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
pub use reqwest;
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub use reqwest_middleware;
