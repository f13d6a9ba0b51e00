//! The MCP tools: what the model sees (names, descriptions, JSON schemas)
//! and what each call does. Work tools (`start_run`, `extend_run`,
//! `finish_run`, `list_runs`) are in [`work`], `claim_paths` in [`paths`],
//! `list_rules` in [`rules`], scheduling tools (`check_availability`,
//! `check_conflicts`, `create_hold`, `release_hold`) in [`schedule`],
//! `usage` in [`usage`].

pub mod paths;
pub mod rules;
pub mod schedule;
pub mod schema;
pub mod shapes;
pub mod usage;
pub mod work;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use availsync_sdk::{Client, ResourceKey};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::{ToolCallContext, schema_for_output};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, MetaObject, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool_handler};
use schemars::JsonSchema;
use serde::Serialize;

use crate::leases::{Leases, ShutdownReport};
use crate::settle::Settler;
use crate::text;
use schema::Side;
use shapes::ErrorInfo;

/// The `_meta` key of a tool error's code, message and whether to retry
/// (errors carry no structured content: clients validate structured content
/// against the tool's output schema, which describes the success shape).
pub const ERROR_META: &str = "availsync/error";

/// The `_meta` key listing the leases lost since the previous answer.
pub const LOST_LEASES_META: &str = "availsync/lost_leases";

/// How much longer than the call deadline a tool call may take in all
/// before it is cut off: each tool bounds its own server calls by the
/// deadline, so this only catches what nothing else does.
const BACKSTOP: Duration = Duration::from_secs(2);

/// What the model is told when it connects: the protocol in a few lines.
pub const INSTRUCTIONS: &str = "\
Availsync coordinates agents that work on the same repositories, projects and schedules. \
Before you edit a repository or project, call start_run with its resource key \
('repo:owner/name' or 'project:key'). \
When you will edit only some files of a repository, pass them as paths (e.g. ['src/api/', 'docs/api.md']) \
so other agents can work on the rest; before you edit any other file, call claim_paths to add it. \
PARTIAL: only the paths you hold are yours. \
PROCEED: do the work, then call finish_run with the run_id and the outcome; this server keeps \
the lease alive while you work, so you need not call extend_run. \
SKIP: someone else is working on it; do not edit it now, tell the user who holds it and until when. \
STOP or LEASE LOST: do not go ahead; tell the user. \
To claim several resources at once (all or none), pass with_resources; list_rules shows the rules people set \
(dependencies claimed together, capacity). \
If Availsync cannot be reached, tools answer STOP: do not do the work unprotected. \
For time windows (calendars, release trains, deploy slots) use check_availability or \
check_conflicts, then create_hold before you book the downstream system, and release_hold if you do not.";

/// How a server answers, set once at start.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Lease length of a `start_run` that asks for none (under
    /// [`LeaseKeeping::ByServer`], its `ttl_seconds` is used instead).
    pub default_ttl_seconds: u32,
    /// Longest a tool call waits for the Availsync server before it answers
    /// STOP.
    pub call_timeout: Duration,
}

/// Who keeps the leases that `start_run` grants alive until `finish_run`:
/// chosen when the handler is built. The tools, their schemas and their
/// answers are the same either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseKeeping {
    /// This process, as the stdio server does: each granted lease is
    /// extended in the background (about every third of its TTL) until
    /// `finish_run`, `max_run_time` or [`AvailsyncMcp::shutdown`]. Leases
    /// lost meanwhile are news in the next tool answer, and `claim_paths`
    /// and `list_runs` know which runs this session holds.
    InProcess {
        /// How long a lease is kept alive without `finish_run` before it is
        /// finished as `cancelled`.
        max_run_time: Duration,
    },
    /// The Availsync server, as for remote MCP: the handler extends
    /// nothing and keeps no state between calls (it may be built per
    /// request). A `start_run` that asks for no lease length is started
    /// with `ttl_seconds`, the window within which the agent's next call
    /// must reach the server for it to extend the lease there.
    ///
    /// What the handler knows of the leases it granted lives only as long
    /// as the handler: built per request, it has no lost-lease news for the
    /// next answer, `claim_paths` finds no run of this session to add paths
    /// to, and `list_runs` marks none as `kept_alive_by_this_session`.
    /// Those need per-agent state from the server (not yet provided).
    ByServer {
        /// Lease length of a `start_run` that asks for none.
        ttl_seconds: u32,
    },
}

/// Names the runs `start_run` starts (`None`: the SDK's random id).
type RunIds = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// The MCP server handler (`rmcp`'s [`ServerHandler`]): the agent's
/// Availsync client, the leases it keeps alive (under
/// [`LeaseKeeping::InProcess`]), the calls it is still settling, and the
/// tools. Cheap to clone; clones share their state.
#[derive(Clone)]
pub struct AvailsyncMcp {
    client: Client,
    keeping: LeaseKeeping,
    leases: Leases,
    settler: Settler,
    options: Options,
    /// This agent's id, learned the first time a SKIP needs it.
    me: Arc<OnceLock<String>>,
    /// Serialises `start_run` calls that name their own run_id, so one run
    /// never gets two guards.
    named_starts: Arc<tokio::sync::Mutex<()>>,
    run_ids: Option<RunIds>,
    tool_router: ToolRouter<Self>,
}

impl std::fmt::Debug for AvailsyncMcp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvailsyncMcp")
            .field("client", &self.client)
            .field("keeping", &self.keeping)
            .field("leases", &self.leases)
            .field("settler", &self.settler)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl AvailsyncMcp {
    /// A handler calling the Availsync API through `client` (which carries
    /// the agent's key), its leases kept alive as `keeping` says.
    pub fn new(client: Client, keeping: LeaseKeeping, options: Options) -> Self {
        let mut tool_router = Self::work_router()
            + Self::paths_router()
            + Self::rules_router()
            + Self::schedule_router()
            + Self::usage_router();
        for route in tool_router.map.values_mut() {
            let tool = &mut route.attr;
            tool.input_schema = Arc::new(schema::plain(&tool.input_schema, Side::Input));
            if let Some(output) = &tool.output_schema {
                tool.output_schema = Some(Arc::new(schema::plain(output, Side::Output)));
            }
        }
        let max_run_time = match keeping {
            LeaseKeeping::InProcess { max_run_time } => max_run_time,
            // Never used: nothing is kept.
            LeaseKeeping::ByServer { .. } => Duration::ZERO,
        };
        Self {
            settler: Settler::new(client.clone()),
            client,
            keeping,
            leases: Leases::new(max_run_time),
            options,
            me: Arc::new(OnceLock::new()),
            named_starts: Arc::new(tokio::sync::Mutex::new(())),
            run_ids: None,
            tool_router,
        }
    }

    /// Names the runs `start_run` starts with `next` (each call gives the
    /// next id; `None` leaves the SDK's random id), unless the model names
    /// the run itself. The stdio server names them after the agent session,
    /// so that the session's edit hook counts them as its own.
    pub fn with_run_ids(
        mut self,
        next: impl Fn() -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.run_ids = Some(Arc::new(next));
        self
    }

    /// The tools as `tools/list` shows them: names, descriptions,
    /// annotations, input and output schemas.
    pub fn tools(&self) -> Vec<Tool> {
        self.tool_router.list_all()
    }

    /// How many leases this handler keeps alive now (always 0 under
    /// [`LeaseKeeping::ByServer`]).
    pub fn held_leases(&self) -> usize {
        self.leases.all().len()
    }

    /// Stops taking leases and finishes every lease it keeps alive as
    /// `cancelled`, and gives every call still being settled one last try,
    /// all within `within` (what is left lapses at its TTL).
    pub async fn shutdown(&self, within: Duration) -> ShutdownReport {
        let (report, ()) =
            tokio::join!(self.leases.shutdown(within), self.settler.shutdown(within));
        report
    }

    /// The id to give the next run `start_run` starts, if the handler
    /// names its runs.
    fn next_run_id(&self) -> Option<String> {
        self.run_ids.as_ref().and_then(|next| next())
    }

    /// `call`, cut off at the call deadline (then a [`Error::Timeout`]
    /// naming it).
    ///
    /// [`Error::Timeout`]: availsync_sdk::Error::Timeout
    pub(crate) async fn bounded<T>(
        &self,
        call: impl Future<Output = availsync_sdk::Result<T>>,
    ) -> availsync_sdk::Result<T> {
        match tokio::time::timeout(self.options.call_timeout, call).await {
            Ok(answer) => answer,
            Err(_) => Err(availsync_sdk::Error::Timeout {
                url: self.client.base_url().to_owned(),
                timeout: self.options.call_timeout,
            }),
        }
    }

    /// Starts `result` with a line for each lease lost since the previous
    /// answer (also listed in `_meta`), so that the model hears of it in
    /// whatever tool it calls next.
    fn with_news(&self, mut result: CallToolResult) -> CallToolResult {
        let news = self.leases.news();
        if news.is_empty() {
            return result;
        }
        let lines: Vec<String> = news.iter().map(text::lease_lost_news).collect();
        let lines = lines.join("\n");
        let first_text = result.content.iter_mut().find_map(|c| match c {
            ContentBlock::Text(t) => Some(t),
            _ => None,
        });
        match first_text {
            Some(t) => t.text = format!("{lines}\n{}", t.text),
            None => result.content.insert(0, ContentBlock::text(lines)),
        }
        let listed: Vec<serde_json::Value> = news
            .iter()
            .map(|lost| serde_json::json!({"run_id": lost.run_id, "resource": lost.resource}))
            .collect();
        result
            .meta
            .get_or_insert_with(MetaObject::new)
            .0
            .insert(LOST_LEASES_META.into(), listed.into());
        result
    }
}

/// True when `result` is a tool error this server wrote (not rmcp's answer
/// to arguments that do not match the schema).
fn is_ours(result: &CallToolResult) -> bool {
    result
        .meta
        .as_ref()
        .is_some_and(|meta| meta.0.contains_key(ERROR_META))
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
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.clone();
        let call = ToolCallContext::new(self, request, context);
        let deadline = self.options.call_timeout + BACKSTOP;
        let result = match tokio::time::timeout(deadline, self.tool_router.call(call)).await {
            // The tools here answer at once: no input requests, no tasks.
            Ok(response) => match response? {
                CallToolResponse::Complete(result) => result,
                other => return Ok(other),
            },
            Err(_) => {
                tracing::warn!(tool = %name, "tool call cut off at its deadline");
                failure(
                    "timeout",
                    "the tool call did not finish in time",
                    true,
                    text::timed_out(
                        self.client.base_url(),
                        self.options.call_timeout,
                        &format!("the outcome of {name} is unknown"),
                    ),
                )
            }
        };
        if result.is_error == Some(true) && !is_ours(&result) {
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
            return Ok(self
                .with_news(invalid_argument(&format!(
                    "the arguments of {name} do not match its schema: {detail}"
                )))
                .into());
        }
        Ok(self.with_news(result).into())
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("availsync-mcp", env!("CARGO_PKG_VERSION"))
                    .with_title("Availsync"),
            )
            .with_instructions(INSTRUCTIONS)
    }
}

/// The `outputSchema` of a tool answering `T`.
pub fn output_schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    schema_for_output::<T>()
}

/// A successful result: `out` as structured content, `line` as its text.
pub fn success<T: Serialize>(out: &T, line: String) -> CallToolResult {
    match serde_json::to_value(out) {
        Ok(value) => {
            let mut result = CallToolResult::success(vec![ContentBlock::text(line)]);
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

/// A tool error (`isError: true`): `line` as its text, and `{code,
/// message, retryable}` under `_meta["availsync/error"]`. No structured
/// content: clients validate it against the output schema, which describes
/// the tool's success.
pub fn failure(code: &str, message: &str, retryable: bool, line: String) -> CallToolResult {
    let info = ErrorInfo {
        code: code.to_owned(),
        message: message.to_owned(),
        retryable,
    };
    let mut result = CallToolResult::error(vec![ContentBlock::text(line)]);
    let mut meta = MetaObject::new();
    meta.0.insert(
        ERROR_META.into(),
        serde_json::to_value(info).unwrap_or_default(),
    );
    result.meta = Some(meta);
    result
}

/// A resource argument parsed and normalised, or the INVALID answer naming
/// what is wrong with it.
pub fn resource_argument(raw: &str) -> Result<ResourceKey, CallToolResult> {
    raw.trim()
        .parse()
        .map_err(|e| invalid_argument(&format!("'{raw}' is not a valid resource: {e}")))
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
        Error::Timeout { timeout, .. } => failure(
            "timeout",
            &message,
            true,
            text::timed_out(client.base_url(), *timeout, subject),
        ),
        Error::Transport { .. } => failure(
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
