//! The page shell (head, navigation, footer), the pieces pages share, and
//! the one error type of the dashboard, rendered as a page.

use availsync_types::{ActivityKind, ErrorCode, Timestamp};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};

use super::assets;
use crate::http::ApiError;
use crate::store::SessionContext;

/// The pages in the navigation, in order: path and label.
pub const NAV: [(&str, &str); 7] = [
    ("/agents", "Agents"),
    ("/rules", "Rules"),
    ("/runs", "Active runs"),
    ("/activity", "Activity"),
    ("/audit", "Audit"),
    ("/usage", "Usage & plan"),
    ("/setup", "Setup"),
];

/// A whole page for a signed-in human.
pub fn page(session: &SessionContext, active: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip-link href="#main" { "Skip to content" }
                header.topbar {
                    div.topbar-inner {
                        a.brand href="/agents" aria-label="Availsync, home" { (logo()) span { "Availsync" } }
                        nav.mainnav aria-label="Dashboard" {
                            ul {
                                @for (path, label) in NAV {
                                    li {
                                        @if path == active {
                                            a href=(path) aria-current="page" { (label) }
                                        } @else {
                                            a href=(path) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                        div.account {
                            span.workspace title="Workspace" { (session.workspace.name) }
                            span.plan-badge { (session.workspace.plan.as_str()) }
                            span.user { (session.user.email) }
                            form method="post" action="/logout" {
                                button.btn.btn-quiet type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" {
                    (body)
                }
                (footer())
            }
        }
    }
}

/// A page without the navigation (log-in, sign-up, errors before log-in).
pub fn bare_page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body.bare {
                main #main tabindex="-1" {
                    div.bare-brand { (logo()) span { "Availsync" } }
                    (body)
                }
                (footer())
            }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · Availsync" }
            link rel="icon" href=(assets::url("favicon.svg")) type="image/svg+xml";
            link rel="stylesheet" href=(assets::url("app.css"));
            script src=(assets::url("app.js")) defer {}
        }
    }
}

fn footer() -> Markup {
    html! {
        footer.footer {
            "Availsync " (env!("CARGO_PKG_VERSION")) " · "
            a href="/openapi.json" { "API reference (OpenAPI)" }
            " · "
            a href="/health" { "health" }
        }
    }
}

fn logo() -> Markup {
    // The favicon's drawing, inline so it inherits the text colour.
    html! {
        svg.logo viewBox="0 0 32 32" width="24" height="24" aria-hidden="true" focusable="false" {
            rect x="3" y="3" width="26" height="26" rx="7" fill="currentColor" opacity="0.14" {}
            path d="M10 17.5l4 4 8-10" fill="none" stroke="currentColor" stroke-width="3"
                stroke-linecap="round" stroke-linejoin="round" {}
        }
    }
}

/// The page's heading with an optional one-line explanation.
pub fn heading(title: &str, lead: &str) -> Markup {
    html! {
        div.page-head {
            h1 { (title) }
            @if !lead.is_empty() { p.lead { (lead) } }
        }
    }
}

/// A notice: `kind` is `success`, `error`, `warning` or `info`.
pub fn notice(kind: &str, body: Markup) -> Markup {
    let role = if kind == "error" { "alert" } else { "status" };
    html! {
        div class={ "notice notice-" (kind) } role=(role) { (body) }
    }
}

/// A small coloured label; `tone` picks the colour.
pub fn badge(tone: &str, text: &str) -> Markup {
    html! { span class={ "badge badge-" (tone) } { (text) } }
}

/// The colour of an activity kind, audit action or decision.
pub fn tone_of(word: &str) -> &'static str {
    match word {
        "proceed" | "run_started" | "claim_created" | "hold_created" | "agent_created"
        | "signup" | "login" | "run_finished" | "rule_created" => "good",
        "skip_run" | "run_skipped" | "run_blocked" | "hold_rejected" | "hold_conflict"
        | "plan_limit_reached" | "lease_lost" | "login_failed" | "agent_deleted" => "bad",
        "run_observed" | "observe_would_block" | "observe" => "watch",
        "run_released" | "claim_released" | "claim_expired" | "hold_released" | "hold_expired"
        | "agent_key_rotated" | "rule_deleted" => "warn",
        _ => "plain",
    }
}

/// An instant as `2026-05-01 12:03:04 UTC`, with its relation to `now`
/// ("3 min ago", "in 4 min") beside it.
pub fn when(at: Timestamp, now: Timestamp) -> Markup {
    let datetime = at.to_datetime();
    html! {
        time datetime=(at.to_string()) title=(datetime.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()) {
            span.abs { (datetime.format("%b %-d, %H:%M:%S").to_string()) }
            " "
            span.rel { (relative(at, now)) }
        }
    }
}

/// "just now", "3 min ago", "in 2 h".
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    let delta = at.unix_millis() - now.unix_millis();
    let seconds = delta.unsigned_abs() / 1000;
    if seconds < 5 {
        return "just now".into();
    }
    let amount = match seconds {
        0..60 => format!("{seconds} s"),
        60..3600 => format!("{} min", seconds / 60),
        3600..86_400 => format!("{} h", seconds / 3600),
        _ => format!("{} d", seconds / 86_400),
    };
    if delta > 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

/// A long id shortened for a table cell, whole in its tooltip.
pub fn short_id(id: &str) -> Markup {
    let short: String = if id.chars().count() > 16 {
        let mut s: String = id.chars().take(12).collect();
        s.push('…');
        s
    } else {
        id.to_owned()
    };
    html! { code.id title=(id) { (short) } }
}

/// A text that can be copied with one click (`id` names its element).
pub fn copyable(id: &str, label: &str, text: &str) -> Markup {
    html! {
        div.copyable {
            pre.code #(id) tabindex="0" aria-label=(label) { code { (text) } }
            button.btn.btn-small.copy type="button" data-copy-target=(id) hidden {
                "Copy"
            }
        }
    }
}

/// The "updated … · live" line above a list that the script keeps up to
/// date from the event stream (`GET /v1/events`). `data-kinds` names the
/// stream's events, which the script listens to; the status line says
/// when the stream is down or the session has ended.
pub fn live_controls(now: Timestamp) -> Markup {
    let kinds: Vec<String> = ActivityKind::ALL.iter().map(ToString::to_string).collect();
    html! {
        div.live-controls data-kinds=(kinds.join(",")) {
            span.updated { "Updated " (when(now, now)) }
            label.live-toggle hidden {
                input type="checkbox" data-live-toggle checked;
                " Live updates"
            }
            span.live-status role="status" aria-live="polite" hidden {}
            a.btn.btn-small.btn-quiet href="" data-refresh-link { "Refresh" }
        }
    }
}

/// A URL of `base` with the non-empty `params`.
pub fn url_with(base: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(key, value);
    }
    let query = query.finish();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{query}")
    }
}

/// The "Newest" and "Older" links of a paged list, keeping its filters.
pub fn pager(base: &str, filters: &[(&str, &str)], paged: bool, next: Option<&str>) -> Markup {
    let older = next.map(|cursor| {
        let mut params = filters.to_vec();
        params.push(("cursor", cursor));
        url_with(base, &params)
    });
    html! {
        @if paged || older.is_some() {
            nav.pager aria-label="Pages" {
                @if paged {
                    a.btn.btn-small href=(url_with(base, filters)) { "← Newest" }
                }
                @if let Some(older) = older {
                    a.btn.btn-small href=(older) rel="next" { "Older →" }
                }
            }
        }
    }
}

/// A compact rendering of an event's `detail` object.
pub fn detail(value: &serde_json::Value) -> Markup {
    let Some(object) = value.as_object() else {
        return html! {};
    };
    html! {
        dl.detail {
            @for (key, value) in object {
                @if !value.is_null() {
                    div {
                        dt { (key) }
                        dd { (detail_value(value)) }
                    }
                }
            }
        }
    }
}

fn detail_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(o) => {
            // Windows: start to end.
            if let (Some(start), Some(end)) = (o.get("start"), o.get("end"))
                && let (Some(start), Some(end)) = (start.as_str(), end.as_str())
            {
                return format!("{start} → {end}");
            }
            // Holders and actors: their name or message says the most.
            for key in ["message", "name", "agent_name", "code"] {
                if let Some(serde_json::Value::String(s)) = o.get(key) {
                    return s.clone();
                }
            }
            value.to_string()
        }
        other => other.to_string(),
    }
}

/// An error answered as a page (or as a redirect to the log-in page).
#[derive(Debug)]
pub enum DashboardError {
    /// Not signed in: to the log-in page, then back to `next`.
    LogIn {
        /// Where to return after logging in (a local path).
        next: Option<String>,
    },
    /// A page saying what went wrong.
    Page {
        /// The status.
        status: StatusCode,
        /// The heading.
        title: String,
        /// One or two sentences.
        message: String,
    },
}

impl DashboardError {
    /// An error page.
    pub fn page(status: StatusCode, title: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Page {
            status,
            title: title.into(),
            message: message.into(),
        }
    }

    /// A state change refused by the Origin check.
    pub fn cross_origin(public_origin: &str) -> Self {
        Self::page(
            StatusCode::FORBIDDEN,
            "Request refused",
            format!(
                "This form was not sent from the dashboard at {public_origin}. Open the \
                 dashboard at that address and try again (an operator can change it with \
                 --public-url)."
            ),
        )
    }
}

impl From<ApiError> for DashboardError {
    fn from(e: ApiError) -> Self {
        let status =
            StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let title = match e.code() {
            ErrorCode::Unauthenticated => return Self::LogIn { next: None },
            ErrorCode::NotFound => "Not found",
            ErrorCode::Forbidden | ErrorCode::AgentKeyNotAllowed => "Not allowed",
            ErrorCode::Internal | ErrorCode::Unavailable => "Something went wrong",
            _ => "That did not work",
        };
        Self::page(status, title, sentence(e.message()))
    }
}

/// An API message as a sentence: capitalised, with a full stop.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        match self {
            Self::LogIn { next } => {
                let to = match next {
                    Some(next) => format!(
                        "/login?next={}",
                        form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                    ),
                    None => "/login".to_owned(),
                };
                Redirect::to(&to).into_response()
            }
            Self::Page {
                status,
                title,
                message,
            } => {
                let body = html! {
                    div.card.narrow {
                        h1 { (title) }
                        p { (message) }
                        p.small.muted { "Request id: " code { (crate::http::current_request_id()) } }
                        p { a.btn href="/agents" { "Back to the dashboard" } }
                    }
                };
                (status, Html(bare_page(&title, body).into_string())).into_response()
            }
        }
    }
}

/// An HTML answer.
pub fn html(markup: Markup) -> Response {
    Html(markup.into_string()).into_response()
}

/// An HTML answer that must never be stored anywhere (it shows a secret).
pub fn html_no_store(markup: Markup) -> Response {
    let mut response = html(markup);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
