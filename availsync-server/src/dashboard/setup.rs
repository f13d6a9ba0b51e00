//! The Setup page: each client's MCP configuration (from the setup CLI's
//! own catalogue), the `availsync-setup` commands, and a setup test that
//! runs start → extend → finish with a temporary agent through the real
//! API, in-process.

use std::sync::LazyLock;
use std::time::Instant;

use availsync_types::SESSION_COOKIE;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::auth::Signed;
use super::layout::{self, DashboardError, copyable, heading, notice};
use crate::domain::ids::{IdKind, new_id};
use crate::http::AppState;
use crate::http::caller::session_cookie;
use crate::store::SessionContext;

/// The resource the setup test claims (one, so that repeated tests do not
/// add protected resources).
pub const TEST_RESOURCE: &str = "project:availsync-setup-test";

/// The client catalogue, generated from `availsync-setup`'s own schemas by
/// its test `clients::snippets` (`UPDATE_SNIPPETS=1 cargo test -p
/// availsync-setup snippets`), which fails when this file is out of date.
const SNIPPETS_JSON: &str = include_str!("client_snippets.json");

/// The generated catalogue.
#[derive(Debug, Deserialize)]
pub struct Catalogue {
    /// Stands for the server URL in every snippet.
    pub url_placeholder: String,
    /// Stands for the path of `availsync-mcp`.
    pub mcp_placeholder: String,
    /// One entry per client, in the setup CLI's display order.
    pub clients: Vec<ClientSnippet>,
}

/// How one client is configured.
#[derive(Debug, Deserialize)]
pub struct ClientSnippet {
    /// The setup CLI's client id (`cursor`, `claude-code`, …).
    pub id: String,
    /// The product's name.
    pub name: String,
    /// User-scope files per OS (`linux`, `macos`, `windows`).
    pub user_files: Vec<(String, Vec<String>)>,
    /// The project-scope file, if the client has one.
    pub project_file: Option<String>,
    /// `json` or `toml`.
    pub language: String,
    /// The `availsync` entry in an otherwise empty file.
    pub snippet: String,
    /// A command that adds the entry instead (Claude Code).
    pub command: Option<String>,
}

/// The catalogue, parsed once.
pub static CATALOGUE: LazyLock<Option<Catalogue>> = LazyLock::new(|| {
    serde_json::from_str(SNIPPETS_JSON)
        .map_err(|e| tracing::error!(error = %e, "client_snippets.json does not parse"))
        .ok()
});

/// A snippet with this server's URL in it.
fn fill(text: &str, catalogue: &Catalogue, url: &str) -> String {
    // The URL sits inside JSON and TOML strings: escape what would end one.
    let escaped = url.replace('\\', "\\\\").replace('"', "\\\"");
    text.replace(&catalogue.url_placeholder, &escaped)
}

fn clients_section(url: &str) -> Markup {
    let Some(catalogue) = CATALOGUE.as_ref() else {
        return notice(
            "error",
            html! { "The client catalogue is missing from this build." },
        );
    };
    html! {
        p {
            "Each entry runs " code { "availsync-mcp" } " with only " code { "AVAILSYNC_URL" }
            " in its environment; the key comes from " code { "availsync-setup login" }
            " (or " code { "AVAILSYNC_API_KEY" } "). Replace " code { (catalogue.mcp_placeholder) }
            " with the absolute path of " code { "availsync-mcp" } " (" code { "command -v availsync-mcp" } ")."
        }
        div.clients {
            @for client in &catalogue.clients {
                details.client data-client=(client.id) {
                    summary {
                        span.client-name { (client.name) }
                        span.client-id { code { (client.id) } }
                    }
                    div.client-body {
                        dl.files {
                            @for (os, files) in &client.user_files {
                                div { dt { (os_label(os)) } dd { @for f in files { code { (f) } br; } } }
                            }
                            @if let Some(project) = &client.project_file {
                                div { dt { "Project" } dd { code { (project) } } }
                            }
                        }
                        @if let Some(command) = &client.command {
                            p { "Add it with the client's own command:" }
                            (copyable(&format!("cmd-{}", client.id), &format!("{} command", client.name), &fill(command, catalogue, url)))
                            p { "Or, for one project, in " code { ".mcp.json" } ":" }
                        }
                        (copyable(&format!("snippet-{}", client.id),
                            &format!("{} configuration ({})", client.name, client.language.to_uppercase()),
                            &fill(&client.snippet, catalogue, url)))
                    }
                }
            }
        }
    }
}

fn os_label(os: &str) -> &str {
    match os {
        "linux" => "Linux",
        "macos" => "macOS",
        "windows" => "Windows",
        other => other,
    }
}

/// One step of the setup test.
#[derive(Debug, Clone)]
pub struct Step {
    /// What it does.
    pub name: &'static str,
    /// `passed`, `failed` or `skipped`.
    pub outcome: &'static str,
    /// What it saw.
    pub detail: String,
    /// How long it took.
    pub millis: u128,
}

const STEPS: [&str; 7] = [
    "Server health",
    "Create a temporary agent",
    "Start a run with its key",
    "Extend the lease",
    "Finish the run",
    "The run is in the activity feed",
    "Delete the temporary agent",
];

fn render(state: &AppState, session: &SessionContext, report: Option<&[Step]>) -> Markup {
    let url = state.config.public_origin.as_str();
    let commands = format!(
        "availsync-setup login --url {url}    # paste an agent's key when asked\n\
         availsync-setup install --all-detected    # or --client cursor, --client claude-code, …\n\
         availsync-setup test"
    );
    let body = html! {
        (heading("Setup", "Connect agent clients to this server, then prove the whole path works."))
        section.card aria-labelledby="s1" {
            h2 #s1 { span.step-no { "1" } "An agent key" }
            p { "Every machine, CI job or automation uses an agent's API key. "
                a href="/agents" { "Create an agent" } " and copy its key — it is shown once." }
        }
        section.card aria-labelledby="s2" {
            h2 #s2 { span.step-no { "2" } "Connect clients with " code { "availsync-setup" } }
            p { "On a developer machine, the setup CLI stores the key once (mode 0600), finds the agent clients installed and adds the "
                code { "availsync" } " MCP server to each (run " code { "availsync-setup" } " alone for a guided wizard):" }
            (copyable("setup-commands", "availsync-setup commands", &commands))
        }
        section.card aria-labelledby="s3" {
            h2 #s3 { span.step-no { "3" } "Or configure a client by hand" }
            (clients_section(url))
        }
        section.card #setup-test aria-labelledby="s4" {
            h2 #s4 { span.step-no { "4" } "Run the setup test" }
            p { "Runs " strong { "start → extend → finish" } " through this server's API with a temporary agent on "
                code { (TEST_RESOURCE) } ", checks the run is in the activity feed, then deletes the agent. "
                "It needs room for one more agent and one more active claim on your plan; the audit log records it." }
            form method="post" action="/setup/test#setup-test" data-busy="Running the setup test…" {
                button.btn.btn-primary type="submit" { "Run setup test" }
            }
            @if let Some(steps) = report {
                (report_markup(steps))
            }
        }
    };
    layout::page(session, "/setup", "Setup", body)
}

fn report_markup(steps: &[Step]) -> Markup {
    let passed = steps.iter().all(|s| s.outcome == "passed");
    html! {
        div.test-report #test-report data-result=(if passed { "passed" } else { "failed" }) {
            @if passed {
                (notice("success", html! { strong { "Setup test passed." } " This server grants, extends and releases leases for agent keys." }))
            } @else {
                (notice("error", html! { strong { "Setup test failed." } " See the first failed step below." }))
            }
            ol.steps {
                @for step in steps {
                    li class={ "step step-" (step.outcome) } data-step=(step.name) {
                        span.step-mark aria-hidden="true" {
                            @match step.outcome { "passed" => "✓", "failed" => "✗", _ => "–" }
                        }
                        span.step-name { (step.name) }
                        span.sr-only { " " (step.outcome) }
                        span.step-time { (step.millis) " ms" }
                        @if !step.detail.is_empty() { span.step-detail { (step.detail) } }
                    }
                }
            }
        }
    }
}

/// `GET /setup`.
pub async fn page(
    State(state): State<AppState>,
    Signed(session): Signed,
) -> Result<Response, DashboardError> {
    Ok(layout::html(render(&state, &session, None)))
}

/// `POST /setup/test`: runs the test and shows each step.
pub async fn run_test(
    State(state): State<AppState>,
    Signed(session): Signed,
    headers: HeaderMap,
) -> Result<Response, DashboardError> {
    let cookie = session_cookie(&headers).unwrap_or_default();
    let steps = setup_test(&state, &cookie).await;
    Ok(layout::html_no_store(render(
        &state,
        &session,
        Some(&steps),
    )))
}

/// One in-process API call: status and JSON body.
struct Call {
    status: StatusCode,
    body: Value,
}

impl Call {
    fn error(&self) -> String {
        let code = self.body["error"]["code"].as_str().unwrap_or("");
        let message = self.body["error"]["message"].as_str().unwrap_or("");
        format!("{} {code}: {message}", self.status.as_u16())
    }
}

/// Calls the API as a client would, through the whole router (extractors,
/// validation, middleware), without a network hop.
async fn call(
    state: &AppState,
    method: Method,
    path: &str,
    auth: (&str, String),
    body: Option<Value>,
) -> Result<Call, String> {
    let mut request = Request::builder().method(method).uri(path);
    if !auth.1.is_empty() {
        request = request.header(auth.0, auth.1);
    }
    let body = match body {
        Some(body) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let request = request.body(body).map_err(|e| e.to_string())?;
    let response = crate::http::layered(crate::http::router(), state.clone())
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .map_err(|e| e.to_string())?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).map_err(|e| format!("answer is not JSON: {e}"))?
    };
    Ok(Call { status, body })
}

/// Runs the setup test; never leaves its agent behind when it was created.
pub async fn setup_test(state: &AppState, session_token: &str) -> Vec<Step> {
    let cookie = (
        header::COOKIE.as_str(),
        format!("{SESSION_COOKIE}={session_token}"),
    );
    let mut steps: Vec<Step> = Vec::new();
    let mut failed = false;
    let mut agent_id: Option<String> = None;
    let mut key = String::new();
    let mut run_id = String::new();
    let bearer = |key: &str| (header::AUTHORIZATION.as_str(), format!("Bearer {key}"));

    for (index, name) in STEPS.iter().copied().enumerate() {
        let cleanup = index == STEPS.len() - 1;
        if failed && !(cleanup && agent_id.is_some()) {
            steps.push(Step {
                name,
                outcome: "skipped",
                detail: String::new(),
                millis: 0,
            });
            continue;
        }
        let started = Instant::now();
        let result: Result<String, String> = match index {
            0 => match call(state, Method::GET, "/health", ("", String::new()), None).await {
                Ok(c) if c.status == StatusCode::OK && c.body["storage"] == "ok" => {
                    Ok(format!("version {}, storage ok", c.body["version"].as_str().unwrap_or("?")))
                }
                Ok(c) => Err(format!("{} {}", c.status.as_u16(), c.body)),
                Err(e) => Err(e),
            },
            1 => {
                let suffix: String = new_id(IdKind::Run).chars().rev().take(6).collect();
                let name = format!("setup-test-{suffix}");
                match call(state, Method::POST, "/v1/agents", cookie.clone(),
                    Some(json!({"name": name, "mode": "enforce"}))).await
                {
                    Ok(c) if c.status == StatusCode::CREATED => {
                        agent_id = c.body["agent"]["id"].as_str().map(str::to_owned);
                        key = c.body["api_key"].as_str().unwrap_or_default().to_owned();
                        Ok(format!("{name}, key {}…", c.body["agent"]["key_prefix"].as_str().unwrap_or("")))
                    }
                    Ok(c) => Err(c.error()),
                    Err(e) => Err(e),
                }
            }
            2 => match call(state, Method::POST, "/v1/work/run/start", bearer(&key),
                Some(json!({"resource": TEST_RESOURCE, "ttl_seconds": 30, "purpose": "dashboard setup test"}))).await
            {
                Ok(c) if c.status == StatusCode::OK && c.body["decision"] == "proceed" && c.body["claim"].is_object() => {
                    run_id = c.body["run_id"].as_str().unwrap_or_default().to_owned();
                    Ok(format!("proceed: lease for 30 s, fencing token {}", c.body["claim"]["fencing_token"]))
                }
                Ok(c) if c.status == StatusCode::OK => Err(format!(
                    "told {}: {}",
                    c.body["decision"].as_str().unwrap_or("?"),
                    c.body["reason"]["message"].as_str().unwrap_or("no reason given")
                )),
                Ok(c) => Err(c.error()),
                Err(e) => Err(e),
            },
            3 => match call(state, Method::POST, "/v1/work/run/extend", bearer(&key),
                Some(json!({"run_id": run_id, "ttl_seconds": 60}))).await
            {
                Ok(c) if c.status == StatusCode::OK && c.body["claim"]["ttl_seconds"] == 60 => {
                    Ok(format!("lease now until {}", c.body["claim"]["expires_at"].as_str().unwrap_or("?")))
                }
                Ok(c) => Err(c.error()),
                Err(e) => Err(e),
            },
            4 => match call(state, Method::POST, "/v1/work/run/finish", bearer(&key),
                Some(json!({"run_id": run_id, "outcome": "succeeded", "summary": "dashboard setup test"}))).await
            {
                Ok(c) if c.status == StatusCode::OK && c.body["released"] == true => {
                    Ok("finished; the lease was released".to_owned())
                }
                Ok(c) => Err(c.error()),
                Err(e) => Err(e),
            },
            5 => {
                let path = format!("/v1/activity?agent_id={}", agent_id.as_deref().unwrap_or(""));
                match call(state, Method::GET, &path, bearer(&key), None).await {
                    Ok(c) if c.status == StatusCode::OK => {
                        let kinds: Vec<&str> = c.body["items"]
                            .as_array()
                            .map(|items| {
                                items
                                    .iter()
                                    .filter(|i| i["run_id"] == run_id.as_str())
                                    .filter_map(|i| i["kind"].as_str())
                                    .collect()
                            })
                            .unwrap_or_default();
                        let want = ["run_started", "run_extended", "run_finished"];
                        if want.iter().all(|k| kinds.contains(k)) {
                            Ok(want.join(", "))
                        } else {
                            Err(format!("expected {}, found {}", want.join(", "), kinds.join(", ")))
                        }
                    }
                    Ok(c) => Err(c.error()),
                    Err(e) => Err(e),
                }
            }
            _ => {
                let id = agent_id.clone().unwrap_or_default();
                match call(state, Method::DELETE, &format!("/v1/agents/{id}"), cookie.clone(), None).await {
                    Ok(c) if c.status == StatusCode::NO_CONTENT => Ok("deleted; its key no longer works".to_owned()),
                    Ok(c) => Err(c.error()),
                    Err(e) => Err(e),
                }
            }
        };
        let millis = started.elapsed().as_millis();
        let (outcome, detail) = match result {
            Ok(detail) => ("passed", detail),
            Err(detail) => {
                failed = true;
                ("failed", detail)
            }
        };
        steps.push(Step {
            name,
            outcome,
            detail,
            millis,
        });
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_catalogue_parses_and_names_every_client() {
        let catalogue = CATALOGUE.as_ref().expect("client_snippets.json parses");
        let ids: Vec<&str> = catalogue.clients.iter().map(|c| c.id.as_str()).collect();
        for id in ["cursor", "claude-code", "codex", "vscode"] {
            assert!(ids.contains(&id), "{id} missing from {ids:?}");
        }
        for client in &catalogue.clients {
            assert!(
                client.snippet.contains(&catalogue.url_placeholder),
                "{}: no URL placeholder",
                client.id
            );
        }
    }

    #[test]
    fn the_url_is_escaped_for_json_and_toml_strings() {
        let catalogue = Catalogue {
            url_placeholder: "@URL@".into(),
            mcp_placeholder: String::new(),
            clients: Vec::new(),
        };
        assert_eq!(
            fill(r#""AVAILSYNC_URL": "@URL@""#, &catalogue, r#"http://a"b\c"#),
            r#""AVAILSYNC_URL": "http://a\"b\\c""#
        );
    }
}
