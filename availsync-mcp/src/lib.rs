//! The Availsync MCP server handler: the tools that make coding agents
//! claim a repository or project before they edit it, with their names,
//! descriptions, JSON schemas, instructions and answer text.
//!
//! One definition serves two transports:
//!
//! - the stdio binary `availsync-mcp`, which an MCP client launches and which
//!   keeps the leases it grants alive in its own process
//!   ([`LeaseKeeping::InProcess`]);
//! - a remote MCP endpoint (Streamable HTTP), where leases live in the
//!   Availsync server's database and are kept alive by the agent's calls
//!   ([`LeaseKeeping::ByServer`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use availsync_mcp::{AvailsyncMcp, LeaseKeeping, Options};
//! use rmcp::ServiceExt;
//!
//! let client = availsync_sdk::Client::builder()
//!     .base_url("https://availsync.example.com")
//!     .api_key("avs_live_…")
//!     .build()?;
//! let options = Options { default_ttl_seconds: 120, call_timeout: Duration::from_secs(10) };
//! let keeping = LeaseKeeping::InProcess { max_run_time: Duration::from_secs(2 * 3600) };
//! let handler = AvailsyncMcp::new(client, keeping, options);
//! let running = handler.clone().serve(rmcp::transport::stdio()).await?;
//! running.waiting().await?;
//! handler.shutdown(Duration::from_secs(3)).await;
//! # Ok(()) }
//! ```

mod leases;
mod settle;
mod text;
mod tools;

pub use leases::ShutdownReport;
pub use tools::{AvailsyncMcp, ERROR_META, INSTRUCTIONS, LOST_LEASES_META, LeaseKeeping, Options};
