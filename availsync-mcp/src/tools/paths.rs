//! The `claim_paths` tool: grow or shrink the paths this session holds in
//! a repository (SPEC §10), through the run's guard, so that the lease
//! keeps being extended with the paths it holds now.

use availsync_sdk::{Error, PathsChange, ResourceKey};
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::shapes::{Action, ClaimPathsOutput, HeldPathInfo};
use super::{AvailsyncMcp, failure, invalid_argument, output_schema, sdk_failure, success};
use crate::text;

/// Arguments of `claim_paths`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimPathsArgs {
    /// The repository you claimed paths of with start_run, e.g.
    /// 'repo:acme/web'.
    pub resource: String,
    /// Paths to claim before you edit them: files ('src/db/schema.rs'),
    /// directories ('src/db/'), '*' within a segment, '**' as a whole
    /// segment.
    #[serde(default)]
    pub add: Vec<String>,
    /// Paths you are done with, so that others may claim them.
    #[serde(default)]
    pub remove: Vec<String>,
    /// True to take the free ones of add when some are held (PARTIAL),
    /// instead of changing nothing (SKIP).
    #[serde(default)]
    pub partial: bool,
}

/// The change `args` ask for, or why it is wrong.
fn change_of(args: &ClaimPathsArgs) -> Result<PathsChange, CallToolResult> {
    if args.add.is_empty() && args.remove.is_empty() {
        return Err(invalid_argument(
            "give the paths to add (before you edit them) or to remove (when you are done with them)",
        ));
    }
    let mut change = PathsChange::new();
    if !args.add.is_empty() {
        change = change
            .add_paths(&args.add)
            .map_err(|e| invalid_argument(&e.to_string()))?;
    }
    if !args.remove.is_empty() {
        change = change
            .remove_paths(&args.remove)
            .map_err(|e| invalid_argument(&e.to_string()))?;
    }
    if args.partial {
        change = change.partial();
    }
    Ok(change)
}

#[tool_router(router = paths_router, vis = "pub(crate)")]
impl AvailsyncMcp {
    /// Add paths to (or remove paths from) what you hold in a repository,
    /// after start_run with paths. Call it BEFORE you edit a file outside
    /// your paths, and give paths back when you are done with them.
    ///
    /// PROCEED: you now hold the listed paths. SKIP: another agent holds
    /// some of the paths you asked for (named in the answer); nothing
    /// changed: do not edit them, tell the user. PARTIAL (with partial:
    /// true): you got the free ones only.
    #[tool(
        annotations(
            title = "Claim more paths",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        ),
        output_schema = output_schema::<ClaimPathsOutput>()
    )]
    async fn claim_paths(&self, Parameters(args): Parameters<ClaimPathsArgs>) -> CallToolResult {
        let resource: ResourceKey = match args.resource.trim().parse() {
            Ok(resource) => resource,
            Err(e) => {
                return invalid_argument(&format!(
                    "'{}' is not a valid resource: {e}",
                    args.resource
                ));
            }
        };
        let change = match change_of(&args) {
            Ok(change) => change,
            Err(invalid) => return invalid,
        };
        let held = self
            .leases
            .all()
            .into_iter()
            .find(|held| held.resource == resource.as_str() && held.is_held());
        let Some(held) = held else {
            return failure(
                "not_held",
                &format!("this session holds no run on {resource}"),
                false,
                text::invalid(&format!(
                    "you hold nothing of {resource} in this session; call start_run with resource '{resource}' and the paths you will edit"
                )),
            );
        };
        let Some(set) = &held.working_set else {
            let out = ClaimPathsOutput {
                action: Action::Proceed,
                run_id: held.run_id.clone(),
                resource: resource.to_string(),
                paths: vec!["**".to_owned()],
                paths_mode: "edit".to_owned(),
                blocked_paths: Vec::new(),
            };
            let line = format!(
                "PROCEED: you already hold the whole of {resource} (run {}); every path is yours, nothing to claim.",
                held.run_id
            );
            return success(&out, line);
        };
        let Some(changing) = self.leases.change_paths(&held.run_id, change) else {
            return text_lost(&held.run_id, &resource);
        };
        let mode = set.mode.as_str().to_owned();
        match self.bounded(changing).await {
            Ok(answer) => {
                let blocked: Vec<HeldPathInfo> = answer
                    .blocked
                    .iter()
                    .flatten()
                    .map(HeldPathInfo::from)
                    .collect();
                let out = ClaimPathsOutput {
                    action: if blocked.is_empty() {
                        Action::Proceed
                    } else {
                        Action::Partial
                    },
                    run_id: answer.run_id,
                    resource: resource.to_string(),
                    paths: answer
                        .claim
                        .working_set
                        .map(|set| set.paths)
                        .unwrap_or_default(),
                    paths_mode: mode,
                    blocked_paths: blocked,
                };
                let line = text::claim_paths(&out);
                success(&out, line)
            }
            Err(Error::PathsClaimed(claimed)) => {
                let out = ClaimPathsOutput {
                    action: Action::Skip,
                    run_id: held.run_id.clone(),
                    resource: resource.to_string(),
                    paths: set.paths.clone(),
                    paths_mode: mode,
                    blocked_paths: claimed.conflicts.iter().map(HeldPathInfo::from).collect(),
                };
                let line = text::claim_paths(&out);
                success(&out, line)
            }
            Err(e) if e.is_lease_lost() => text_lost(&held.run_id, &resource),
            Err(e) => sdk_failure(
                &self.client,
                &e,
                &format!(
                    "whether the paths of run {} changed is unknown",
                    held.run_id
                ),
            ),
        }
    }
}

fn text_lost(run_id: &str, resource: &ResourceKey) -> CallToolResult {
    failure(
        "lease_lost",
        &format!("run {run_id} no longer holds {resource}"),
        false,
        text::lease_lost(run_id, Some(resource.as_str())),
    )
}
