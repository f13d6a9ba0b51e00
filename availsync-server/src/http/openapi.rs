//! The OpenAPI document, generated from the handlers and the wire types.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::{accounts, agents, events, feeds, health, rules, schedule, work};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Availsync API",
        description = "The pre-flight coordination layer that coding agents, CI jobs and automations check before they act.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        health::health,
        health::livez,
        health::readyz,
        accounts::signup,
        accounts::login,
        accounts::logout,
        accounts::session,
        agents::create,
        agents::list,
        agents::update,
        agents::rotate_key,
        agents::delete,
        rules::create,
        rules::list,
        rules::update,
        rules::delete,
        work::start,
        work::check,
        work::extend,
        work::finish,
        work::change_paths,
        work::list_runs,
        work::release_claim,
        schedule::availability,
        schedule::check_conflicts,
        schedule::create_hold,
        schedule::list_holds,
        schedule::release_hold,
        feeds::activity,
        events::stream,
        feeds::audit,
        feeds::usage,
    ),
    modifiers(&SecuritySchemes, &CommonErrors),
    tags(
        (name = "auth", description = "Humans: sign up, log in, sessions"),
        (name = "agents", description = "Humans: agents and their API keys"),
        (name = "rules", description = "Humans write, agents read: dependencies, capacity, mode, longest lease"),
        (name = "work", description = "Agents: runs and work claims"),
        (name = "scheduling", description = "Agents and humans: availability, conflicts and holds"),
        (name = "activity", description = "Activity, audit and usage"),
        (name = "diagnostics", description = "Health, liveness and readiness"),
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "agent_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An agent API key (avs_live_…)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session_cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                availsync_types::SESSION_COOKIE,
                "A human session from signup or login",
            ))),
        );
    }
}

/// Adds the error answers that whole kinds of operation can give, so the
/// document lists every status the server sends (a client generated from it,
/// and schemathesis in `.ci/schemathesis.sh`, rely on that): 401 and 403 on
/// authenticated operations, 400, 413 and 415 on those with a JSON body, and
/// 500 and 503 everywhere. An operation's own description of a status wins.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                (&mut item.get, false),
                (&mut item.put, true),
                (&mut item.post, true),
                (&mut item.delete, true),
                (&mut item.patch, true),
            ];
            for (operation, writes) in operations
                .into_iter()
                .filter_map(|(operation, writes)| operation.as_mut().map(|o| (o, writes)))
            {
                let schemes: Vec<String> = operation
                    .security
                    .iter()
                    .flatten()
                    .filter_map(|requirement| serde_json::to_value(requirement).ok())
                    .filter_map(|value| {
                        value
                            .as_object()
                            .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    })
                    .flatten()
                    .collect();
                let mut errors: Vec<(&str, &str)> = Vec::new();
                if !schemes.is_empty() {
                    errors.push((
                        "401",
                        "unauthenticated: no agent key or session, or one that is not valid (any more)",
                    ));
                    let agent = schemes.iter().any(|s| s == "agent_key");
                    let human = schemes.iter().any(|s| s == "session_cookie");
                    errors.push((
                        "403",
                        match (agent, human) {
                            (false, _) => {
                                "agent_key_not_allowed: an agent key on a human endpoint; or forbidden: a cookie-authenticated change from another Origin"
                            }
                            (true, false) => "agent_key_required: a human session on an agent endpoint",
                            (true, true) => {
                                "forbidden: a cookie-authenticated change from another Origin, or an action the caller may not take"
                            }
                        },
                    ));
                }
                if operation.request_body.is_some() {
                    errors.extend([
                        (
                            "400",
                            "invalid_json, unknown_field, or invalid_request naming the field in error.field",
                        ),
                        ("413", "payload_too_large: the body is over 64 KiB"),
                        (
                            "415",
                            "unsupported_media_type: the body is not sent as application/json",
                        ),
                    ]);
                }
                if writes {
                    errors.push((
                        "507",
                        "insufficient_storage: the server's storage is full, so nothing was changed; see Retry-After",
                    ));
                }
                errors.extend([
                    (
                        "500",
                        "internal: the server failed; nothing internal is answered",
                    ),
                    ("503", "unavailable: the server could not answer in time"),
                ]);
                for (status, description) in errors {
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error_response(description).into());
                }
            }
        }
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build()
}

fn api() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// The OpenAPI document as pretty JSON, ending in a newline.
pub fn document() -> String {
    let mut json = api()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(api()).unwrap_or_default())
}
