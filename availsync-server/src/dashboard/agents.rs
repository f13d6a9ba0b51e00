//! The Agents page: create (the key shown once), rotate, change mode,
//! delete with confirmation.

use availsync_types::{
    Agent, CreateAgentRequest, MAX_PAGE_LIMIT, Mode, RunStatus, Timestamp, UpdateAgentRequest,
};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Signed;
use super::form::Form;
use super::layout::{self, DashboardError, badge, heading, notice, when};
use crate::app;
use crate::domain::secrets::Secret;
use crate::http::{ApiError, AppState};
use crate::store::{AgentId, Listing, PageRequest, RunFilter, SessionContext};

/// Every agent of the workspace (plans allow at most a few hundred; past
/// one page the rest are listed on the next).
async fn all_agents(
    state: &AppState,
    session: &SessionContext,
) -> Result<(Vec<Agent>, bool), ApiError> {
    let page = state
        .store()
        .list_agents(Listing {
            workspace_id: session.workspace_id(),
            filter: (),
            page: PageRequest {
                limit: MAX_PAGE_LIMIT,
                after: None,
            },
        })
        .await?;
    Ok((page.items, page.next_cursor.is_some()))
}

fn mode_label(mode: Mode) -> &'static str {
    match mode {
        Mode::Enforce => "enforce",
        Mode::Observe => "observe",
        #[allow(unreachable_patterns)]
        _ => "unknown",
    }
}

fn create_form(error: Option<&str>, name: Option<&str>) -> Markup {
    html! {
        section.card aria-labelledby="create-title" {
            h2 #create-title { "Create an agent" }
            @if let Some(message) = error { (notice("error", html! { (message) })) }
            form.create-agent method="post" action="/agents" {
                div.field {
                    label for="agent-name" { "Name" }
                    input #agent-name name="name" type="text" required maxlength="100"
                        placeholder="ci-bot" autocomplete="off" value=[name];
                }
                fieldset.field.modes {
                    legend { "Mode" }
                    label.choice {
                        input type="radio" name="mode" value="enforce" checked;
                        span { strong { "Enforce" } " — a run on a resource someone else holds is told to skip." }
                    }
                    label.choice {
                        input type="radio" name="mode" value="observe";
                        span { strong { "Observe" } " — never blocked; records what would have been blocked." }
                    }
                }
                button.btn.btn-primary type="submit" { "Create agent" }
            }
        }
    }
}

fn agents_table(agents: &[Agent], now: Timestamp) -> Markup {
    html! {
        @if agents.is_empty() {
            div.empty {
                p { strong { "No agents yet." } }
                p { "Create one for each coding agent, CI job or automation. Its API key is shown once." }
            }
        } @else {
            div.table-wrap {
                table.agents {
                    caption.sr-only { "Agents of this workspace" }
                    thead { tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Mode" }
                        th scope="col" { "Key" }
                        th scope="col" { "Created" }
                        th scope="col" { "Last used" }
                        th scope="col" { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for agent in agents {
                            tr data-agent-id=(agent.id) {
                                th.agent scope="row" { (agent.name) br; (layout::short_id(&agent.id)) }
                                td {
                                    form.inline method="post" action={ "/agents/" (agent.id) "/mode" } {
                                        label.sr-only for={ "mode-" (agent.id) } { "Mode of " (agent.name) }
                                        select #{ "mode-" (agent.id) } name="mode" {
                                            option value="enforce" selected[agent.mode == Mode::Enforce] { "enforce" }
                                            option value="observe" selected[agent.mode == Mode::Observe] { "observe" }
                                        }
                                        button.btn.btn-small type="submit" { "Save" span.sr-only { " mode of " (agent.name) } }
                                    }
                                }
                                td { code { (agent.key_prefix) "…" } }
                                td { (when(agent.created_at, now)) }
                                td {
                                    @match agent.last_used_at {
                                        Some(at) => (when(at, now)),
                                        None => span.muted { "never" },
                                    }
                                }
                                td.actions {
                                    form.inline method="post" action={ "/agents/" (agent.id) "/rotate" }
                                        data-confirm={ "Rotate the key of " (agent.name) "? Its current key stops working at once." } {
                                        button.btn.btn-small type="submit" { "Rotate key" span.sr-only { " of " (agent.name) } }
                                    }
                                    a.btn.btn-small.btn-danger-quiet href={ "/agents/" (agent.id) "/delete" } {
                                        "Delete" span.sr-only { " " (agent.name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn render(
    state: &AppState,
    session: &SessionContext,
    flash: Option<Markup>,
    create_error: Option<&str>,
    name: Option<&str>,
) -> Result<Markup, ApiError> {
    let (agents, more) = all_agents(state, session).await?;
    let now = Timestamp::now();
    let limit = session.workspace.plan.limits().agents;
    let body = html! {
        (heading("Agents", "Runtime identities — coding agents, CI and cron jobs, automations. Each has one API key, shown once."))
        @if let Some(flash) = flash { (flash) }
        div.grid-2 {
            (create_form(create_error, name))
            section.card.plan-note aria-labelledby="plan-title" {
                h2 #plan-title { "Plan" }
                p.big {
                    (agents.len()) @if more { "+" }
                    @if let Some(limit) = limit { " of " (limit) } " agents"
                }
                p.muted { "On the " (session.workspace.plan.as_str()) " plan. " a href="/usage" { "Usage & plan" } }
                p.muted { "Deleting an agent revokes its key and releases its active claims." }
            }
        }
        section aria-labelledby="list-title" {
            h2 #list-title { "All agents" }
            (agents_table(&agents, now))
        }
    };
    Ok(layout::page(session, "/agents", "Agents", body))
}

/// `?updated=` / `?deleted=`: what the last form did (after its redirect).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    updated: Option<String>,
    deleted: Option<String>,
}

/// `GET /agents`.
pub async fn page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<PageQuery>,
) -> Result<Response, DashboardError> {
    let flash = match (query.updated, query.deleted) {
        (Some(id), _) => all_agents(&state, &session)
            .await?
            .0
            .into_iter()
            .find(|a| a.id == id)
            .map(|agent| {
                notice(
                    "success",
                    html! { "Agent " strong { (agent.name) } " is in " strong { (mode_label(agent.mode)) }
                    " mode; its next run is decided that way." },
                )
            }),
        (None, Some(prefix)) if prefix.starts_with(availsync_types::API_KEY_PREFIX) && prefix.len() <= 16 => {
            Some(notice(
                "success",
                html! { "The agent was deleted; its key " code { (prefix) "…" } " no longer works." },
            ))
        }
        _ => None,
    };
    Ok(layout::html(
        render(&state, &session, flash, None, None).await?,
    ))
}

/// The page that shows a new key, once: it is in this answer only
/// (`Cache-Control: no-store`), and nowhere else.
fn key_page(
    state: &AppState,
    session: &SessionContext,
    agent: &Agent,
    key: &Secret,
    rotated: bool,
) -> Response {
    let title = if rotated {
        format!("New key for {}", agent.name)
    } else {
        format!("Agent {} created", agent.name)
    };
    let body = html! {
        (heading(&title, ""))
        div.card.key-card {
            (notice("warning", html! {
                strong { "Copy this key now. You will not see it again." }
                " Availsync keeps only a hash of it. If you lose it, rotate the key."
                @if rotated { " The previous key has stopped working." }
            }))
            div.field {
                label for="api-key" { "API key of " (agent.name) }
                div.key-row {
                    input #api-key.key type="text" readonly value=(key.expose())
                        spellcheck="false" autocomplete="off" data-select-on-focus;
                    button.btn.btn-primary.copy type="button" data-copy-target="api-key" hidden { "Copy key" }
                }
                p.hint #copy-status role="status" aria-live="polite" {}
            }
            h2 { "Use it" }
            p { "Give it to the agent as " code { "AVAILSYNC_API_KEY" } ", or store it once on a developer machine:" }
            pre.code { code { "availsync-setup login --url " (state.config.public_origin) "   # paste the key when asked" } }
            p { "Mode: " (badge(if agent.mode == Mode::Observe { "watch" } else { "plain" }, mode_label(agent.mode)))
                " · key prefix " code { (agent.key_prefix) "…" } }
            p { a.btn href="/agents" { "Done — back to agents" } " " a.btn.btn-quiet href="/setup" { "Set up clients" } }
        }
    };
    layout::html_no_store(layout::page(session, "/agents", &title, body))
}

/// The create form's fields.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    name: String,
    mode: Option<String>,
}

fn parse_mode(mode: Option<&str>) -> Result<Option<Mode>, DashboardError> {
    match mode {
        None | Some("") => Ok(None),
        Some("enforce") => Ok(Some(Mode::Enforce)),
        Some("observe") => Ok(Some(Mode::Observe)),
        Some(other) => Err(DashboardError::page(
            StatusCode::BAD_REQUEST,
            "That did not work",
            format!("'{other}' is not a mode; choose enforce or observe."),
        )),
    }
}

/// `POST /agents`: creates the agent and shows its key once.
pub async fn create(
    State(state): State<AppState>,
    Signed(session): Signed,
    Form(form): Form<CreateForm>,
) -> Result<Response, DashboardError> {
    let mode = parse_mode(form.mode.as_deref())?;
    let request = CreateAgentRequest {
        name: form.name.clone(),
        mode,
    };
    match app::agents::create_agent(&state.services, &session, request)
        .await
        .map_err(ApiError::from)
    {
        Ok((agent, key)) => Ok(key_page(&state, &session, &agent, &key, false)),
        Err(e) if e.code().status() < 500 => {
            let status = StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::BAD_REQUEST);
            let message = layout::sentence(e.message());
            let page = render(&state, &session, None, Some(&message), Some(&form.name)).await?;
            Ok((status, layout::html(page)).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /agents/{id}/rotate`: a new key, shown once.
pub async fn rotate(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Result<Response, DashboardError> {
    let (agent, key) = app::agents::rotate_agent_key(&state.services, &session, AgentId::new(id))
        .await
        .map_err(ApiError::from)?;
    Ok(key_page(&state, &session, &agent, &key, true))
}

/// The mode form's field.
#[derive(Debug, Deserialize)]
pub struct ModeForm {
    mode: String,
}

/// `POST /agents/{id}/mode`.
pub async fn set_mode(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
    Form(form): Form<ModeForm>,
) -> Result<Response, DashboardError> {
    let mode = parse_mode(Some(&form.mode))?;
    let agent = app::agents::update_agent(
        &state.services,
        &session,
        AgentId::new(id),
        UpdateAgentRequest { name: None, mode },
    )
    .await
    .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/agents?updated={}", agent.id)).into_response())
}

async fn find_agent(
    state: &AppState,
    session: &SessionContext,
    id: &str,
) -> Result<Agent, DashboardError> {
    let (agents, _) = all_agents(state, session).await?;
    agents.into_iter().find(|a| a.id == id).ok_or_else(|| {
        DashboardError::page(
            StatusCode::NOT_FOUND,
            "Not found",
            "No such agent in this workspace.",
        )
    })
}

/// `GET /agents/{id}/delete`: asks first.
pub async fn confirm_delete(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Result<Response, DashboardError> {
    let agent = find_agent(&state, &session, &id).await?;
    let active = state
        .store()
        .list_runs(Listing {
            workspace_id: session.workspace_id(),
            filter: RunFilter {
                active_only: true,
                resource: None,
            },
            page: PageRequest {
                limit: MAX_PAGE_LIMIT,
                after: None,
            },
        })
        .await
        .map_err(ApiError::from)?
        .items
        .into_iter()
        .filter(|r| r.agent_id == agent.id && r.claim.is_some() && r.status == RunStatus::Active)
        .count();
    let title = format!("Delete agent {}?", agent.name);
    let body = html! {
        div.card.narrow {
            h1 { (title) }
            p { "Its key " code { (agent.key_prefix) "…" } " stops working at once." }
            @if active > 0 {
                p { strong { "It holds " (active) " active claim" @if active != 1 { "s" } "." }
                    " They are released now, and the audit log records why." }
            }
            p.muted { "Its runs stay in the activity and audit logs. This cannot be undone." }
            form.actions-row method="post" action={ "/agents/" (agent.id) "/delete" } {
                button.btn.btn-danger type="submit" { "Delete " (agent.name) }
                a.btn.btn-quiet href="/agents" { "Cancel" }
            }
        }
    };
    Ok(layout::html(layout::page(
        &session, "/agents", &title, body,
    )))
}

/// `POST /agents/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(id): Path<String>,
) -> Result<Response, DashboardError> {
    let agent = find_agent(&state, &session, &id).await?;
    state
        .store()
        .delete_agent(&session, &AgentId::new(agent.id.as_str()))
        .await
        .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/agents?deleted={}", agent.key_prefix)).into_response())
}
