//! The MCP tools: what the model sees (names, descriptions, JSON schemas)
//! and what each call does. Work tools (`start_run`, `extend_run`,
//! `finish_run`, `list_runs`) are in [`work`], scheduling tools
//! (`check_availability`, `check_conflicts`, `create_hold`,
//! `release_hold`) in [`schedule`], `usage` in [`usage`].

pub mod schedule;
pub mod shapes;
pub mod usage;
pub mod work;

use std::sync::Arc;

use availsync_sdk::Client;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{ToolCallContext, schema_for_output};
use rmcp::model::{
    CallToolRequestParams, CallToolResult, Content, Implementation, JsonObject, ServerCapabilities,
    ServerInfo,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use schemars::JsonSchema;
use serde::Serialize;

use crate::leases::Leases;
use crate::text;
use shapes::{ErrorInfo, ToolErrorOutput};

/// What the model is told when it connects: the protocol in a few lines.
pub const INSTRUCTIONS: &str = "\
Availsync coordinates agents that work on the same repositories, projects and schedules. \
Before you edit a repository or project, call start_run with its resource key \
('repo:owner/name' or 'project:key'). \
PROCEED: do the work, then call finish_run with the run_id and the outcome; this server keeps \
the lease alive while you work, so you need not call extend_run. \
SKIP: someone else is working on it; do not edit it now, tell the user who holds it and until when. \
STOP or LEASE LOST: do not go ahead; tell the user. \
If Availsync cannot be reached, tools answer STOP: do not do the work unprotected. \
For time windows (calendars, release trains, deploy slots) use check_availability or \
check_conflicts, then create_hold before you book the downstream system, and release_hold if you do not.";

/// The MCP server: the agent's client, the leases it keeps alive, and the
/// tool router.
#[derive(Clone)]
pub struct AvailsyncMcp {
    client: Client,
    leases: Leases,
    default_ttl_seconds: u32,
    /// Serialises `start_run` calls that name their own run_id, so one run
    /// never gets two guards.
    named_starts: Arc<tokio::sync::Mutex<()>>,
    tool_router: ToolRouter<Self>,
}

impl std::fmt::Debug for AvailsyncMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvailsyncMcp")
            .field("client", &self.client)
            .field("leases", &self.leases)
            .finish_non_exhaustive()
    }
}

impl AvailsyncMcp {
    /// A server calling the API through `client`, keeping its leases in
    /// `leases`, giving runs that ask for none `default_ttl_seconds`.
    pub fn new(client: Client, leases: Leases, default_ttl_seconds: u32) -> Self {
        Self {
            client,
            leases,
            default_ttl_seconds,
            named_starts: Arc::new(tokio::sync::Mutex::new(())),
            tool_router: Self::work_router() + Self::schedule_router() + Self::usage_router(),
        }
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for AvailsyncMcp {
    /// Routes the call to its tool. Arguments that do not match the tool's
    /// schema (rmcp answers those with a bare text error) get the same
    /// shape as every other tool error: an INVALID line and structured
    /// content.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let name = request.name.clone();
        let call = ToolCallContext::new(self, request, context);
        let result = self.tool_router.call(call).await?;
        if result.is_error == Some(true) && result.structured_content.is_none() {
            let detail: Vec<String> = result
                .content
                .iter()
                .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                .collect();
            let detail = detail.join(" ");
            let detail = detail
                .strip_prefix("failed to deserialize parameters: ")
                .unwrap_or(&detail);
            tracing::info!(tool = %name, %detail, "arguments do not match the schema");
            return Ok(invalid_argument(&format!(
                "the arguments of {name} do not match its schema: {detail}"
            )));
        }
        Ok(result)
    }

    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("availsync-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Availsync"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}

/// The `outputSchema` of a tool answering `T` (an empty object schema,
/// logged, should `T`'s schema not be an object: never a panic).
pub fn output_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    schema_for_output::<T>().unwrap_or_else(|e| {
        tracing::error!(error = %e, "invalid output schema");
        let mut object = JsonObject::new();
        object.insert("type".into(), "object".into());
        Arc::new(object)
    })
}

/// A successful result: `out` as structured content, `line` as its text.
pub fn success<T: Serialize>(out: &T, line: String) -> CallToolResult {
    match serde_json::to_value(out) {
        Ok(value) => {
            let mut result = CallToolResult::success(vec![Content::text(line)]);
            result.structured_content = Some(value);
            result
        }
        Err(e) => failure(
            "internal",
            &format!("could not encode the answer: {e}"),
            false,
            text::failed(&e.to_string(), "the answer is unknown"),
        ),
    }
}

/// A tool error (`isError: true`): structured `{error: {code, message,
/// retryable}}` and `line` as its text.
pub fn failure(code: &str, message: &str, retryable: bool, line: String) -> CallToolResult {
    let out = ToolErrorOutput {
        error: ErrorInfo {
            code: code.to_owned(),
            message: message.to_owned(),
            retryable,
        },
    };
    let mut result = CallToolResult::error(vec![Content::text(line)]);
    result.structured_content = serde_json::to_value(out).ok();
    result
}

/// A bad argument found before calling the server.
pub fn invalid_argument(message: &str) -> CallToolResult {
    failure("invalid_argument", message, false, text::invalid(message))
}

/// An SDK error as a tool error. Unreachable or failing servers fail
/// closed: the line tells the model not to go ahead, because `subject`
/// (e.g. "it is unknown whether repo:acme/web is free").
pub fn sdk_failure(client: &Client, error: &availsync_sdk::Error, subject: &str) -> CallToolResult {
    use availsync_sdk::Error;
    let message = error.to_string();
    match error {
        // Not down but not to be trusted, or not the server meant: a set-up
        // problem for the user, which retrying does not fix.
        e if e.is_tls_failure() => failure(
            "tls_failure",
            &message,
            false,
            text::untrusted(client.base_url(), subject),
        ),
        Error::Transport { .. } | Error::Timeout { .. } => failure(
            "unreachable",
            &message,
            true,
            text::unreachable(client.base_url(), subject),
        ),
        Error::InvalidResource(e) => invalid_argument(&format!("invalid resource: {e}")),
        Error::Api(api) => {
            let retryable = error.is_retryable();
            let line = match api.status {
                401 => text::key_refused(),
                400 | 409 | 413 | 415 | 422 => text::invalid(&match &api.field {
                    Some(field) => format!("{} (field '{field}')", api.message),
                    None => api.message.clone(),
                }),
                403 => text::forbidden(&api.message),
                404 => text::not_found(&api.message, "Check the id you passed."),
                status => text::server_failing(status, &api.message, subject),
            };
            failure(&api.code, &message, retryable, line)
        }
        _ => failure("failed", &message, false, text::failed(&message, subject)),
    }
}
