//! The checked-in OpenAPI document matches the code.

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[test]
fn openapi_json_matches_the_code() {
    let generated = availsync_server::openapi_json();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(CHECKED_IN, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "availsync-server/openapi.json is out of date; run `UPDATE_OPENAPI=1 cargo test -p availsync-server openapi` and commit it"
    );
}

#[test]
fn openapi_documents_every_route() {
    let doc: serde_json::Value = serde_json::from_str(&availsync_server::openapi_json()).unwrap();
    for path in [
        "/health",
        "/v1/auth/signup",
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/session",
        "/v1/agents",
        "/v1/agents/{id}",
        "/v1/agents/{id}/rotate-key",
        "/v1/work/run/start",
        "/v1/work/run/extend",
        "/v1/work/run/finish",
        "/v1/work/run/working-set",
        "/v1/work/check",
        "/v1/work/runs",
        "/v1/availability",
        "/v1/conflicts/check",
        "/v1/holds",
        "/v1/holds/{hold_id}",
        "/v1/activity",
        "/v1/audit",
        "/v1/activity/usage",
        "/v1/events",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
}

#[tokio::test]
async fn the_server_serves_the_same_document() {
    let server = crate::support::TestServer::start().await;
    let served: serde_json::Value = server
        .http
        .get(format!("{}/openapi.json", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let generated: serde_json::Value =
        serde_json::from_str(&availsync_server::openapi_json()).unwrap();
    assert_eq!(served, generated);
}
