//! The Audit page: governance events with their actor, filtered by actor,
//! resource and action, paged, refreshed live.

use availsync_types::{AuditAction, AuditItem, Page};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::activity::{agent_choices, given};
use super::auth::Signed;
use super::layout::{
    self, DashboardError, badge, detail, heading, live_controls, notice, tone_of, when,
};
use crate::http::{ApiError, AppState, feeds, paging};
use crate::store::Listing;

/// The page's query: the filters and the page.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    actor_id: Option<String>,
    resource: Option<String>,
    action: Option<String>,
    cursor: Option<String>,
}

fn table(page: &Page<AuditItem>) -> Markup {
    let now = page.server_time;
    html! {
        @if page.items.is_empty() {
            div.empty { p { strong { "No audit events match." } } }
        } @else {
            div.table-wrap {
                table.events {
                    caption.sr-only { "Audit log, newest first" }
                    thead { tr {
                        th scope="col" { "When" }
                        th scope="col" { "Action" }
                        th scope="col" { "Actor" }
                        th scope="col" { "Resource" }
                        th scope="col" { "Detail" }
                    } }
                    tbody {
                        @for item in &page.items {
                            tr data-action=(item.action) {
                                td.nowrap { (when(item.at, now)) }
                                td { (badge(tone_of(&item.action), &item.action)) }
                                td.actor {
                                    span class={ "actor-type actor-" (item.actor.kind) } { (item.actor.kind) }
                                    " "
                                    @if let Some(name) = &item.actor.name { (name) }
                                }
                                td { @if let Some(r) = &item.resource { code.resource { (r) } } }
                                td { (detail(&item.detail)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /audit`.
pub async fn page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<AuditQuery>,
) -> Result<Response, DashboardError> {
    let agents = agent_choices(&state, &session.workspace.id).await?;
    let (actor_id, resource, action) = (
        given(&query.actor_id),
        given(&query.resource),
        given(&query.action),
    );
    let listed = match (
        feeds::audit_filter(actor_id.clone(), resource.as_deref(), action.clone()),
        paging::page_request(None, query.cursor.as_deref()),
    ) {
        (Ok(filter), Ok(page)) => Ok(state
            .store()
            .list_audit(Listing {
                workspace_id: session.workspace_id(),
                filter,
                page,
            })
            .await
            .map_err(ApiError::from)?),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let filters = [
        ("actor_id", actor_id.as_deref().unwrap_or("")),
        ("resource", resource.as_deref().unwrap_or("")),
        ("action", action.as_deref().unwrap_or("")),
    ];
    let me = session.user.id.as_str();
    let form = html! {
        form.filters method="get" action="/audit" role="search" aria-label="Filter the audit log" {
            div.field {
                label for="f-actor" { "Actor" }
                select #f-actor name="actor_id" {
                    option value="" { "Everyone" }
                    option value=(me) selected[actor_id.as_deref() == Some(me)] { "You (" (session.user.email) ")" }
                    @for agent in &agents {
                        option value=(agent.id) selected[actor_id.as_deref() == Some(agent.id.as_str())] { "Agent " (agent.name) }
                    }
                }
            }
            div.field {
                label for="f-resource" { "Resource" }
                input #f-resource name="resource" type="text" placeholder="repo:acme/web" value=[resource.as_deref()];
            }
            div.field {
                label for="f-action" { "Action" }
                select #f-action name="action" {
                    option value="" { "All actions" }
                    @for a in AuditAction::ALL.map(AuditAction::as_str) {
                        option value=(a) selected[action.as_deref() == Some(a)] { (a) }
                    }
                }
            }
            div.field.filter-buttons {
                button.btn.btn-primary type="submit" { "Filter" }
                a.btn.btn-quiet href="/audit" { "Clear" }
            }
        }
    };
    let (status, listing) = match &listed {
        Ok(page) => (
            StatusCode::OK,
            html! {
                (live_controls(page.server_time))
                div data-live="audit" {
                    (table(page))
                    (layout::pager("/audit", &filters, query.cursor.is_some(), page.next_cursor.as_deref()))
                }
            },
        ),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            notice("error", html! { (layout::sentence(e.message())) }),
        ),
    };
    let body = html! {
        (heading("Audit", "Governance events — claims, releases, expiries, conflicts, agent and key changes, log-ins — with who did them."))
        (form)
        (listing)
    };
    Ok((
        status,
        layout::html(layout::page(&session, "/audit", "Audit", body)),
    )
        .into_response())
}
