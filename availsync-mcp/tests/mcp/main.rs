//! `availsync-mcp` end to end: the binary spawned as a child process and
//! driven over stdio by rmcp's MCP client, against the real Availsync server
//! running in this test process.

#![allow(clippy::unwrap_used, missing_docs)]

mod claims;
mod deadline;
mod holders;
mod library;
mod lost;
mod process;
mod schedule;
mod support;
mod waiting;
mod work;
