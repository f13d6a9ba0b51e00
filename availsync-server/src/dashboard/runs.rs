//! The Active runs page: who holds what, until when, and a human
//! "release" (the API's `POST /v1/work/claims/{claim_id}/release`).

use availsync_types::{
    Claim, ClaimedResource, Mode, Page, Run, Timestamp, WorkingSet, WorkingSetMode,
};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Signed;
use super::layout::{self, DashboardError, badge, heading, live_controls, notice, short_id, when};
use crate::http::{ApiError, AppState, paging};
use crate::store::{ClaimId, Listing, RunFilter};

/// `?cursor=` and `?released=` of the page.
#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    cursor: Option<String>,
    released: Option<String>,
}

fn runs_table(page: &Page<Run>) -> Markup {
    let now = page.server_time;
    html! {
        @if page.items.is_empty() {
            div.empty {
                p { strong { "Nothing is running." } }
                p { "When an agent starts a run, its lease shows here until it finishes or lapses." }
            }
        } @else {
            div.table-wrap {
                table.runs {
                    caption.sr-only { "Active runs" }
                    thead { tr {
                        th scope="col" { "Resource" }
                        th scope="col" { "Agent" }
                        th scope="col" { "Run" }
                        th scope="col" { "Started" }
                        th scope="col" { "Lease until" }
                        th scope="col" { abbr title="Fencing token" { "Token" } }
                        th scope="col" { "Purpose" }
                        th scope="col" { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for run in &page.items {
                            (run_row(run, now))
                        }
                    }
                }
            }
        }
    }
}

/// A working set's paths under its resource, with its mode when it only
/// reads.
fn paths(set: &WorkingSet) -> Markup {
    html! {
        ul.paths aria-label="Paths held" {
            @for path in &set.paths {
                li { code { (path) } }
            }
        }
        @if set.mode == WorkingSetMode::Read {
            (badge("watch", "read only"))
        }
    }
}

/// The resources of a claim on several (asked for together, or reached
/// through `depends_on`), when it is one: `None` for a claim on one.
fn several(claim: Option<&Claim>) -> Option<&[ClaimedResource]> {
    claim
        .and_then(|c| c.resources.as_deref())
        .filter(|parts| parts.len() > 1)
}

/// Each resource of a claim on several, with its own fencing token.
fn claimed_resources(parts: &[ClaimedResource]) -> Markup {
    html! {
        ul.claimed aria-label="Resources held" {
            @for part in parts {
                li {
                    code.resource { (part.resource) }
                    " "
                    span.token title="Fencing token" { span.sr-only { "fencing token " } "#" (part.fencing_token) }
                }
            }
        }
    }
}

fn run_row(run: &Run, now: Timestamp) -> Markup {
    let parts = several(run.claim.as_ref());
    // What a release lets go of: every resource of the claim.
    let held = parts.map_or_else(
        || run.resource.clone(),
        |parts| {
            parts
                .iter()
                .map(|p| p.resource.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    html! {
        tr data-run-id=(run.run_id) {
            th scope="row" {
                @match parts {
                    Some(parts) => (claimed_resources(parts)),
                    None => code.resource { (run.resource) },
                }
                @if let Some(set) = run.claim.as_ref().and_then(|c| c.working_set.as_ref()) {
                    (paths(set))
                }
            }
            td.agent { (run.agent_name) }
            td { (short_id(&run.run_id)) }
            td { (when(run.created_at, now)) }
            td {
                @match &run.claim {
                    Some(claim) => (when(claim.expires_at, now)),
                    None => { (badge("watch", "observe")) " " span.muted { "no lease" } },
                }
            }
            td.num {
                @if parts.is_some() { span.muted.small { "per resource" } }
                @else if let Some(claim) = &run.claim { (claim.fencing_token) }
            }
            td.purpose { @if let Some(p) = &run.purpose { (p) } }
            td.actions {
                @if let (Some(claim), Mode::Enforce) = (&run.claim, run.mode) {
                    form.inline method="post" action={ "/runs/" (claim.claim_id) "/release" }
                        data-confirm={ "Release " (held) " from " (run.agent_name)
                            "? The agent loses its lease at its next extend and must stop." } {
                        button.btn.btn-small.btn-danger type="submit" {
                            "Release" span.sr-only { " " (held) " from " (run.agent_name) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /runs`.
pub async fn page(
    State(state): State<AppState>,
    Signed(session): Signed,
    Query(query): Query<RunsQuery>,
) -> Result<Response, DashboardError> {
    let page_request = paging::page_request(None, query.cursor.as_deref())?;
    let page = state
        .store()
        .list_runs(Listing {
            workspace_id: session.workspace_id(),
            filter: RunFilter {
                active_only: true,
                resource: None,
            },
            page: page_request,
        })
        .await
        .map_err(ApiError::from)?;
    let released = query.released.filter(|id| {
        id.starts_with("clm_")
            && id.len() <= 64
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    });
    let body = html! {
        (heading("Active runs", "Who holds what, until when. Releasing a claim ends its lease now: the agent is told at its next extend and must stop."))
        @if let Some(claim_id) = released {
            (notice("success", html! {
                "Released claim " code { (claim_id) } ". The resource is free; the release is in the "
                a href="/audit?action=claim_released" { "audit log" } "."
            }))
        }
        (live_controls(page.server_time))
        div data-live="runs" {
            (runs_table(&page))
            (layout::pager("/runs", &[], query.cursor.is_some(), page.next_cursor.as_deref()))
        }
    };
    Ok(layout::html(layout::page(
        &session,
        "/runs",
        "Active runs",
        body,
    )))
}

/// `POST /runs/{claim_id}/release`: the same store call as the API's
/// release; idempotent.
pub async fn release(
    State(state): State<AppState>,
    Signed(session): Signed,
    Path(claim_id): Path<String>,
) -> Result<Response, DashboardError> {
    let answer = state
        .store()
        .release_claim(&session, &ClaimId::new(claim_id))
        .await
        .map_err(ApiError::from)?;
    Ok(Redirect::to(&format!("/runs?released={}", answer.claim_id)).into_response())
}
