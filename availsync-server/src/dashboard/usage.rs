//! The Usage & plan page: agents and active claims against the plan's
//! limits, protected resources, and what happened lately.

use availsync_types::{Timestamp, UsageCounts};
use axum::extract::State;
use axum::response::Response;
use maud::{Markup, html};

use super::auth::Signed;
use super::layout::{self, DashboardError, heading};
use crate::http::{ApiError, AppState};
use crate::store::UsageQuery;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// One "used of limit" gauge (a native `<meter>`: accessible, and styled
/// without inline styles, which the Content-Security-Policy forbids).
fn meter(id: &str, label: &str, used: u64, limit: Option<u32>, note: &str) -> Markup {
    html! {
        div.card.meter-card {
            h2 #(id) { (label) }
            p.big {
                (used)
                @match limit {
                    Some(limit) => span.of { " of " (limit) },
                    None => span.of { " · unlimited" },
                }
            }
            @if let Some(limit) = limit {
                @let high = (f64::from(limit) * 0.67).floor();
                meter min="0" max=(limit) value=(used) low=(high) high=(f64::from(limit) - 0.5)
                    optimum="0" aria-labelledby=(id) {
                    (used) " of " (limit)
                }
            }
            p.muted { (note) }
        }
    }
}

fn counts_row(label: &str, day: u64, all: u64) -> Markup {
    html! { tr { th scope="row" { (label) } td.num { (day) } td.num { (all) } } }
}

fn counts(day: &UsageCounts, all: &UsageCounts) -> Markup {
    html! {
        div.table-wrap {
            table.counts {
                caption { "Runs and holds" }
                thead { tr { th scope="col" { "" } th.num scope="col" { "Last 24 hours" } th.num scope="col" { "All time" } } }
                tbody {
                    (counts_row("Runs granted a claim", day.runs_started, all.runs_started))
                    (counts_row("Runs told to skip", day.runs_skipped, all.runs_skipped))
                    (counts_row("Observe runs", day.runs_observed, all.runs_observed))
                    (counts_row("Observe runs that would have been blocked", day.would_have_blocked, all.would_have_blocked))
                    (counts_row("Holds created", day.holds_created, all.holds_created))
                }
            }
        }
    }
}

/// `GET /usage`.
pub async fn page(
    State(state): State<AppState>,
    Signed(session): Signed,
) -> Result<Response, DashboardError> {
    let all = state
        .store()
        .usage(UsageQuery {
            workspace_id: session.workspace_id(),
            since: None,
            until: None,
        })
        .await
        .map_err(ApiError::from)?;
    let since = Timestamp::from_unix_millis(all.server_time.unix_millis() - DAY_MS);
    let day = state
        .store()
        .usage(UsageQuery {
            workspace_id: session.workspace_id(),
            since: Some(since),
            until: None,
        })
        .await
        .map_err(ApiError::from)?;
    let body = html! {
        (heading("Usage & plan", "What this workspace uses against its plan's limits."))
        div.grid-3 {
            (meter("m-agents", "Agents", all.usage.agents, all.limits.agents,
                "Create and delete agents on the Agents page."))
            (meter("m-claims", "Active claims", all.usage.active_claims, all.limits.active_claims,
                "Live leases now. At the limit, further enforce runs are told to skip."))
            div.card.meter-card {
                h2 { "Protected resources" }
                p.big { (all.usage.protected_resources) }
                p.muted { "Every repo and project ever claimed. Releasing a claim does not remove one." }
            }
        }
        section.card aria-labelledby="plan-title" {
            h2 #plan-title { "Plan: " (all.plan.as_str()) }
            p { "Plans are changed by the operator of this server, not in the dashboard:" }
            pre.code { code { "availsync-server set-plan --data-dir <dir> --workspace " (session.workspace.id) " --plan team" } }
            p.muted { "free: 3 agents, 3 active claims · team: 25 agents, 100 active claims · business: unlimited" }
        }
        section.card {
            (counts(&day.counts, &all.counts))
        }
    };
    Ok(layout::html(layout::page(
        &session,
        "/usage",
        "Usage & plan",
        body,
    )))
}
