//! The workspace dashboard: server-rendered HTML pages for the humans of a
//! workspace, served at `/` by the same server and on the same session
//! cookie as the API.
//!
//! Every page is rendered on the server (maud templates, no client-side
//! build); a small static script adds copy buttons, confirmations and live
//! refresh, and every read works without it. The handlers call the same
//! functions as the API handlers ([`crate::http`]) and the same store, so
//! the dashboard has no rules of its own.
//!
//! Security (see `docs/dashboard.md`): the session cookie is
//! `SameSite=Strict`; every state-changing request must carry an `Origin`
//! header naming the server's public URL (browsers always send one on a
//! `POST`); every answer carries a strict Content-Security-Policy (no inline
//! script or style) and `Cache-Control: no-store`, except the static assets.

mod activity;
mod agents;
mod assets;
mod audit;
mod auth;
mod form;
mod layout;
mod rules;
mod runs;
mod setup;
mod usage;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::http::AppState;

pub use auth::Signed;
pub use layout::DashboardError;

/// The Content-Security-Policy of every dashboard answer: only this origin's
/// own script, style and images; no inline code; no framing; forms post only
/// here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

/// The dashboard's pages, forms and assets.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/signup", get(auth::signup_page).post(auth::signup))
        .route("/logout", post(auth::logout))
        .route("/agents", get(agents::page).post(agents::create))
        .route("/agents/{id}/rotate", post(agents::rotate))
        .route("/agents/{id}/mode", post(agents::set_mode))
        .route(
            "/agents/{id}/delete",
            get(agents::confirm_delete).post(agents::delete),
        )
        .route("/rules", get(rules::page).post(rules::create))
        .route(
            "/rules/{rule_id}/edit",
            get(rules::edit_page).post(rules::update),
        )
        .route(
            "/rules/{rule_id}/delete",
            get(rules::confirm_delete).post(rules::delete),
        )
        .route("/runs", get(runs::page))
        .route("/runs/{claim_id}/release", post(runs::release))
        .route("/activity", get(activity::page))
        .route("/audit", get(audit::page))
        .route("/usage", get(usage::page))
        .route("/setup", get(setup::page))
        .route("/setup/test", post(setup::run_test))
        .route("/static/{file}", get(assets::serve))
        .layer(middleware::from_fn_with_state(state, protect))
}

/// `/`: the agents page when signed in, else the log-in page.
async fn home(signed: Option<Signed>) -> Redirect {
    match signed {
        Some(_) => Redirect::to("/agents"),
        None => Redirect::to("/login"),
    }
}

/// Refuses state changes from anywhere but the dashboard's own pages, and
/// adds the security headers to every answer.
async fn protect(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD);
    let mut response = if safe || same_origin(&request, &state.config.public_origin) {
        next.run(request).await
    } else {
        DashboardError::cross_origin(&state.config.public_origin).into_response()
    };
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        CONTENT_SECURITY_POLICY,
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    // `same-origin`, not `no-referrer`: with no referrer at all, browsers
    // send `Origin: null` on form posts, which the check above refuses.
    set(headers, header::REFERRER_POLICY, "same-origin");
    if !headers.contains_key(header::CACHE_CONTROL) {
        set(headers, header::CACHE_CONTROL, "no-store");
    }
    response
}

/// A state change is accepted only with an `Origin` header naming the
/// public URL. Unlike the JSON API, a missing `Origin` is refused too: every
/// browser sends one on a `POST`, and nothing but a browser posts forms.
fn same_origin(request: &Request, public_origin: &str) -> bool {
    request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| origin.trim_end_matches('/') == public_origin)
}
