//! The OpenAPI document, generated from the handlers and the wire types.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{accounts, agents, feeds, health, schedule, work};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Availsync API",
        description = "The pre-flight coordination layer that coding agents, CI jobs and automations check before they act.",
        license(name = "MIT OR Apache-2.0")
    ),
    paths(
        health::health,
        accounts::signup,
        accounts::login,
        accounts::logout,
        accounts::session,
        agents::create,
        agents::list,
        agents::update,
        agents::rotate_key,
        agents::delete,
        work::start,
        work::check,
        work::extend,
        work::finish,
        work::list_runs,
        work::release_claim,
        schedule::availability,
        schedule::check_conflicts,
        schedule::create_hold,
        schedule::list_holds,
        schedule::release_hold,
        feeds::activity,
        feeds::audit,
        feeds::usage,
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Humans: sign up, log in, sessions"),
        (name = "agents", description = "Humans: agents and their API keys"),
        (name = "work", description = "Agents: runs and work claims"),
        (name = "scheduling", description = "Agents and humans: availability, conflicts and holds"),
        (name = "activity", description = "Activity, audit and usage"),
        (name = "diagnostics", description = "Health"),
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
