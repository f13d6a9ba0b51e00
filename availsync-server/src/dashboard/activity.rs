//! The Activity page: runtime traffic, filtered by agent, resource and
//! kind, paged, refreshed live.

use availsync_types::{ActivityItem, ActivityKind, Agent, MAX_PAGE_LIMIT, Page};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Signed;
use super::layout::{
    self, DashboardError, badge, detail, heading, live_controls, notice, short_id, tone_of, when,
};
use crate::http::{ApiError, AppState, feeds, paging};
use crate::store::{Listing, PageRequest, WorkspaceId};

/// The page's query: the filters and the page.
#[derive(Debug, Default, Deserialize)]
pub struct ActivityQuery {
    agent_id: Option<String>,
    resource: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
}

/// An empty form field means "any".
pub fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The workspace's agents, for the filter menus.
pub async fn agent_choices(state: &AppState, workspace_id: &str) -> Result<Vec<Agent>, ApiError> {
    Ok(state
        .store()
        .list_agents(Listing {
            workspace_id: WorkspaceId::new(workspace_id),
            filter: (),
            page: PageRequest {
                limit: MAX_PAGE_LIMIT,
                after: None,
            },
        })
        .await?
        .items)
}

fn table(page: &Page<ActivityItem>) -> Markup {
    let now = page.server_time;
    html! {
        @if page.items.is_empty() {
            div.empty { p { strong { "No activity matches." } } p { "Agents' calls show up here as they happen." } }
        } @else {
            div.table-wrap {
                table.events {
                    caption.sr-only { "Activity, newest first" }
                    thead { tr {
                        th scope="col" { "When" }
                        th scope="col" { "Kind" }
                        th scope="col" { "Agent" }
                        th scope="col" { "Resource" }
                        th scope="col" { "Decision" }
                        th scope="col" { "Run" }
                        th scope="col" { "Detail" }
                    } }
                    tbody {
                        @for item in &page.items {
                            tr data-kind=(item.kind) {
                                td.nowrap { (when(item.at, now)) }
                                td { (badge(tone_of(&item.kind), &item.kind)) }
                                td.agent { @if let Some(name) = &item.agent_name { (name) } }
                                td { @if let Some(r) = &item.resource { code.resource { (r) } } }
                                td { @if let Some(d) = &item.decision { (badge(tone_of(d), d)) } }
                                td { @if let Some(run) = &item.run_id { (short_id(run)) } }
                                td { (detail(&item.detail)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /activity`.
pub async fn page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<ActivityQuery>,
) -> Result<Response, DashboardError> {
    let agents = agent_choices(&state, &session.workspace.id).await?;
    let (agent_id, resource, kind) = (
        given(&query.agent_id),
        given(&query.resource),
        given(&query.kind),
    );
    // The API's own validation of the filters and the cursor.
    let listed = match (
        feeds::activity_filter(agent_id.clone(), resource.as_deref(), kind.clone()),
        paging::page_request(None, query.cursor.as_deref()),
    ) {
        (Ok(filter), Ok(page)) => Ok(state
            .store()
            .list_activity(Listing {
                workspace_id: session.workspace_id(),
                filter,
                page,
            })
            .await
            .map_err(ApiError::from)?),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let filters = [
        ("agent_id", agent_id.as_deref().unwrap_or("")),
        ("resource", resource.as_deref().unwrap_or("")),
        ("kind", kind.as_deref().unwrap_or("")),
    ];
    let form = html! {
        form.filters method="get" action="/activity" role="search" aria-label="Filter activity" {
            div.field {
                label for="f-agent" { "Agent" }
                select #f-agent name="agent_id" {
                    option value="" { "All agents" }
                    @for agent in &agents {
                        option value=(agent.id) selected[agent_id.as_deref() == Some(agent.id.as_str())] { (agent.name) }
                    }
                }
            }
            div.field {
                label for="f-resource" { "Resource" }
                input #f-resource name="resource" type="text" placeholder="repo:acme/web" value=[resource.as_deref()];
            }
            div.field {
                label for="f-kind" { "Kind" }
                select #f-kind name="kind" {
                    option value="" { "All kinds" }
                    @for k in ActivityKind::ALL.map(ActivityKind::as_str) {
                        option value=(k) selected[kind.as_deref() == Some(k)] { (k) }
                    }
                }
            }
            div.field.filter-buttons {
                button.btn.btn-primary type="submit" { "Filter" }
                a.btn.btn-quiet href="/activity" { "Clear" }
            }
        }
    };
    let (status, listing) = match &listed {
        Ok(page) => (
            StatusCode::OK,
            html! {
                (live_controls(page.server_time))
                div data-live="activity" {
                    (table(page))
                    (layout::pager("/activity", &filters, query.cursor.is_some(), page.next_cursor.as_deref()))
                }
            },
        ),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            notice("error", html! { (layout::sentence(e.message())) }),
        ),
    };
    let body = html! {
        (heading("Activity", "Runtime traffic: what agents called and what they were told, newest first."))
        (form)
        (listing)
    };
    Ok((
        status,
        layout::html(layout::page(&session, "/activity", "Activity", body)),
    )
        .into_response())
}
