//! The `list_rules` tool: the rules humans declared about resources
//! (dependencies, capacity, mode, lease caps), read-only, so that a model
//! can see why a claim held more than it named or was skipped.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::shapes::{ListRulesOutput, RuleInfo};
use super::{AvailsyncMcp, output_schema, sdk_failure, success};
use crate::text;

/// Arguments of `list_rules` (none).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListRulesArgs {}

#[tool_router(router = rules_router, vis = "pub(crate)")]
impl AvailsyncMcp {
    /// The workspace's rules, which people set and agents follow: which
    /// resources a claim on a resource also holds (depends_on), how many
    /// runs may hold a resource at once (capacity), resources where every
    /// run is a dry run (observe), and caps on lease length. Use it when
    /// start_run skipped you on a resource you did not name, or said a
    /// resource's places are taken. Read-only.
    #[tool(
        annotations(title = "Rules about resources", read_only_hint = true, open_world_hint = false),
        output_schema = output_schema::<ListRulesOutput>()
    )]
    async fn list_rules(&self, Parameters(_args): Parameters<ListRulesArgs>) -> CallToolResult {
        match self.bounded(self.client.rules()).await {
            Ok(rules) => {
                let out = ListRulesOutput {
                    rules: rules.iter().map(RuleInfo::from).collect(),
                };
                let line = text::list_rules(&out);
                success(&out, line)
            }
            Err(e) => sdk_failure(&self.client, &e, "the workspace's rules are unknown"),
        }
    }
}
