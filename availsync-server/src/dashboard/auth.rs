//! Who is looking at the dashboard, and the sign-up, log-in and log-out
//! pages. Authentication is the API's own ([`crate::http::caller`]); the
//! rules of signing up and logging in are the API's functions.

use availsync_types::{ErrorCode, LoginRequest, SignupRequest};
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::form::{self, Form, FormError};
use super::layout::{self, DashboardError, bare_page, notice};
use crate::app;
use crate::domain::secrets::Secret;
use crate::http::caller::Caller;
use crate::http::client_addr::ClientAddr;
use crate::http::{ApiError, AppState};
use crate::store::SessionContext;

/// A signed-in human. Without a session, a page answers with a redirect to
/// the log-in page; an agent key gets a "not allowed" page.
#[derive(Debug, Clone)]
pub struct Signed(pub SessionContext);

impl FromRequestParts<AppState> for Signed {
    type Rejection = DashboardError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, DashboardError> {
        match Caller::from_request_parts(parts, state).await {
            Ok(Caller::Human(session)) => Ok(Signed(session)),
            Ok(Caller::Agent(_)) => Err(DashboardError::page(
                StatusCode::FORBIDDEN,
                "Agent keys cannot use the dashboard",
                "An agent API key works only with the API. A workspace member logs in here with \
                 an email and password.",
            )),
            Err(e) if e.code() == ErrorCode::Unauthenticated => {
                let next = (parts.method == axum::http::Method::GET)
                    .then(|| parts.uri.path_and_query().map(|p| p.to_string()))
                    .flatten();
                Err(DashboardError::LogIn { next })
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl OptionalFromRequestParts<AppState> for Signed {
    type Rejection = DashboardError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, DashboardError> {
        // Pages anyone may see ignore credentials that do not sign a human
        // in (an agent key, an expired session), as the API's sign-up does.
        Ok(
            <Signed as FromRequestParts<AppState>>::from_request_parts(parts, state)
                .await
                .ok(),
        )
    }
}

/// `?next=` of the log-in and sign-up pages.
#[derive(Debug, Default, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
    logged_out: Option<String>,
}

/// Where to go after logging in: a local path only (never another site).
fn local_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains(['\\', '\r', '\n'])
                && !path.starts_with("/login")
                && !path.starts_with("/signup") =>
        {
            path
        }
        _ => "/agents",
    }
}

/// The answer that signs the browser in and moves on.
fn signed_in(state: &AppState, token: &Secret, next: &str) -> Response {
    let mut response = Redirect::to(next).into_response();
    if let Some(cookie) = state.new_session_cookie(token) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// An input with its label and, when it is the one at fault, the error.
struct Field<'a> {
    name: &'a str,
    label: &'a str,
    kind: &'a str,
    autocomplete: &'a str,
    value: Option<&'a str>,
    hint: Option<&'a str>,
    minlength: Option<u32>,
}

fn field(f: &Field<'_>, error: Option<&FormError>) -> Markup {
    form::labelled(f.name, f.label, f.hint, error, |c| {
        html! {
            input #(c.id) name=(f.name) type=(f.kind) autocomplete=(f.autocomplete)
                value=[f.value] required minlength=[f.minlength]
                aria-invalid=[c.invalid] aria-describedby=[c.described_by.as_deref()];
        }
    })
}

fn login_form(
    email: Option<&str>,
    next: &str,
    error: Option<&FormError>,
    info: Option<&str>,
) -> Markup {
    let body = html! {
        div.card.narrow.auth-card {
            h1 { "Log in to your workspace" }
            @if let Some(info) = info { (notice("success", html! { (info) })) }
            @if let Some(e) = error { (notice("error", html! { (e.message) })) }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                (field(&Field { name: "email", label: "Email", kind: "email", autocomplete: "username",
                    value: email, hint: None, minlength: None }, error))
                (field(&Field { name: "password", label: "Password", kind: "password",
                    autocomplete: "current-password", value: None, hint: None, minlength: None }, error))
                button.btn.btn-primary.btn-block type="submit" { "Log in" }
            }
            p.switch { "New to Availsync? " a href="/signup" { "Create a workspace" } }
        }
    };
    bare_page("Log in", body)
}

/// `GET /login`.
pub async fn login_page(signed: Option<Signed>, Query(query): Query<NextQuery>) -> Response {
    let next = local_next(query.next.as_deref());
    if signed.is_some() {
        return Redirect::to(next).into_response();
    }
    let info = query.logged_out.is_some().then_some("You have logged out.");
    layout::html(login_form(None, next, None, info))
}

/// The log-in form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: the API's log-in rules; a failure shows the form again.
pub async fn login(
    State(state): State<AppState>,
    client: ClientAddr,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = local_next(form.next.as_deref()).to_owned();
    let email = form.email.clone();
    let request = LoginRequest {
        email: form.email,
        password: form.password,
    };
    match app::accounts::log_in(&state.services, &client.key(), request)
        .await
        .map_err(ApiError::from)
    {
        Ok((token, _)) => signed_in(&state, &token, &next),
        Err(e) => {
            let status = StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::BAD_REQUEST);
            let mut error = FormError::from(&e);
            if e.code() == ErrorCode::Unauthenticated {
                error.message = "The email or password is wrong.".into();
                error.field = None;
            }
            if e.code().status() >= 500 {
                return DashboardError::from(e).into_response();
            }
            let mut response = (
                status,
                layout::html(login_form(Some(&email), &next, Some(&error), None)),
            )
                .into_response();
            if let Some(value) = e
                .retry_after()
                .and_then(|retry| HeaderValue::from_str(&retry.to_string()).ok())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

fn signup_form(form: Option<&SignupForm>, error: Option<&FormError>) -> Markup {
    let body = html! {
        div.card.narrow.auth-card {
            h1 { "Create a workspace" }
            p.lead { "A workspace is your team's account: its agents, keys, runs and logs." }
            @if let Some(e) = error { (notice("error", html! { (e.message) })) }
            form method="post" action="/signup" {
                (field(&Field { name: "workspace_name", label: "Workspace name", kind: "text",
                    autocomplete: "organization", value: form.map(|f| f.workspace_name.as_str()),
                    hint: None, minlength: None }, error))
                (field(&Field { name: "email", label: "Email", kind: "email", autocomplete: "username",
                    value: form.map(|f| f.email.as_str()), hint: None, minlength: None }, error))
                (field(&Field { name: "password", label: "Password", kind: "password",
                    autocomplete: "new-password", value: None,
                    hint: Some("At least 10 characters."), minlength: Some(10) }, error))
                button.btn.btn-primary.btn-block type="submit" { "Create workspace" }
            }
            p.switch { "Already have an account? " a href="/login" { "Log in" } }
        }
    };
    bare_page("Create a workspace", body)
}

/// `GET /signup`.
pub async fn signup_page(signed: Option<Signed>) -> Response {
    if signed.is_some() {
        return Redirect::to("/agents").into_response();
    }
    layout::html(signup_form(None, None))
}

/// The sign-up form's fields.
#[derive(Debug, Deserialize)]
pub struct SignupForm {
    workspace_name: String,
    email: String,
    password: String,
}

/// `POST /signup`: the API's sign-up rules; a failure shows the form again.
pub async fn signup(
    State(state): State<AppState>,
    client: ClientAddr,
    Form(form): Form<SignupForm>,
) -> Response {
    let request = SignupRequest {
        email: form.email.clone(),
        password: form.password.clone(),
        workspace_name: form.workspace_name.clone(),
    };
    match app::accounts::sign_up(&state.services, &client.key(), request)
        .await
        .map_err(ApiError::from)
    {
        Ok((token, _)) => signed_in(&state, &token, "/agents"),
        Err(e) if e.code().status() >= 500 => DashboardError::from(e).into_response(),
        Err(e) => {
            let status = StatusCode::from_u16(e.code().status()).unwrap_or(StatusCode::BAD_REQUEST);
            let error = FormError::from(&e);
            (status, layout::html(signup_form(Some(&form), Some(&error)))).into_response()
        }
    }
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    Signed(session): Signed,
) -> Result<Response, DashboardError> {
    state
        .store()
        .logout(&session)
        .await
        .map_err(ApiError::from)?;
    let mut response = Redirect::to("/login?logged_out=1").into_response();
    if let Some(cookie) = state.cleared_session_cookie() {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::local_next;

    #[test]
    fn next_is_only_ever_a_local_path() {
        assert_eq!(local_next(Some("/runs?x=1")), "/runs?x=1");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "runs",
            "/login",
            "/signup?next=/x",
        ] {
            assert_eq!(local_next(Some(bad)), "/agents", "{bad}");
        }
        assert_eq!(local_next(None), "/agents");
    }
}
