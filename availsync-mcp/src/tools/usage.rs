//! The `usage` tool: the workspace's plan, its limits and what was used.

use availsync_sdk::Timestamp;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::shapes::UsageOutput;
use super::{AvailsyncMcp, invalid_argument, output_schema, sdk_failure, success};
use crate::text;

/// Arguments of `usage`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UsageArgs {
    /// Count from this time, RFC 3339 (e.g. '2026-05-01T00:00:00Z');
    /// default: all time.
    #[serde(default)]
    pub since: Option<String>,
    /// Count up to this time, RFC 3339; default now.
    #[serde(default)]
    pub until: Option<String>,
}

fn parse_optional(name: &str, text: Option<String>) -> Result<Option<Timestamp>, CallToolResult> {
    match text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t
            .parse()
            .map(Some)
            .map_err(|e| invalid_argument(&format!("{name}: {e}"))),
    }
}

#[tool_router(router = usage_router, vis = "pub(crate)")]
impl AvailsyncMcp {
    /// The workspace's plan and how much of it is used: agents and active
    /// leases against the plan's limits, and counts of runs started, skipped
    /// and observed and holds created (all time, or between since and until).
    /// Use it when the user asks about usage, or when start_run said the plan's
    /// lease limit was reached.
    #[tool(
        annotations(title = "Plan and usage", read_only_hint = true, open_world_hint = false),
        output_schema = output_schema::<UsageOutput>()
    )]
    async fn usage(&self, Parameters(args): Parameters<UsageArgs>) -> CallToolResult {
        let since = match parse_optional("since", args.since) {
            Ok(t) => t,
            Err(invalid) => return invalid,
        };
        let until = match parse_optional("until", args.until) {
            Ok(t) => t,
            Err(invalid) => return invalid,
        };
        match self.bounded(self.client.usage(since, until)).await {
            Ok(answer) => {
                let out = UsageOutput::from(&answer);
                let line = text::usage(&out);
                success(&out, line)
            }
            Err(e) => sdk_failure(&self.client, &e, "the workspace's usage is unknown"),
        }
    }
}
