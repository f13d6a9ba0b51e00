//! Bad input gets its documented 4xx code naming what is wrong; never a 500.

use serde_json::json;

use crate::support::{Answer, TestServer};

fn post(server: &TestServer, path: &str, key: &str) -> reqwest::RequestBuilder {
    server
        .http
        .post(format!("{}{path}", server.url))
        .bearer_auth(key)
}

#[tokio::test]
async fn each_kind_of_bad_body_gets_its_code() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let start = || post(&server, "/v1/work/run/start", &agent.key);
    let json_body = |body: &str| {
        start()
            .header("content-type", "application/json")
            .body(body.to_owned())
    };

    let cases: Vec<(reqwest::RequestBuilder, u16, &str, Option<&str>)> = vec![
        (json_body("{\"resource\": "), 400, "invalid_json", None),
        (json_body("not json"), 400, "invalid_json", None),
        (json_body(""), 400, "invalid_json", None),
        (
            start().header("content-type", "text/plain").body("{}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            start().body("{\"resource\":\"repo:a/b\"}"),
            415,
            "unsupported_media_type",
            None,
        ),
        (
            json_body(&format!(
                "{{\"resource\":\"repo:a/b\",\"purpose\":\"{}\"}}",
                "x".repeat(70_000)
            )),
            413,
            "payload_too_large",
            None,
        ),
        (
            json_body(r#"{"resource":"repo:a/b","ttl":60}"#),
            400,
            "unknown_field",
            Some("ttl"),
        ),
        (
            json_body(r#"{"ttl_seconds":60}"#),
            400,
            "invalid_request",
            Some("resources"),
        ),
        (
            json_body(r#"{"resource":42}"#),
            400,
            "invalid_request",
            Some("resource"),
        ),
        (json_body(r#"[1,2]"#), 400, "invalid_request", None),
        (
            json_body(r#"{"resource":"repo:acme"}"#),
            400,
            "invalid_resource",
            Some("resource"),
        ),
        (
            json_body(r#"{"resources":["repo:a/b"]}"#),
            400,
            "invalid_request",
            Some("resources"),
        ),
        (
            json_body(r#"{"resources":["repo:a/b","Repo:x"]}"#),
            400,
            "invalid_resource",
            Some("resources[1]"),
        ),
        (
            json_body(r#"{"resource":"Repo:a/b"}"#),
            400,
            "invalid_resource",
            Some("resource"),
        ),
        (
            json_body(r#"{"resource":"project:has space"}"#),
            400,
            "invalid_resource",
            Some("resource"),
        ),
        (
            json_body(r#"{"resource":"repo:a/b","ttl_seconds":9}"#),
            400,
            "invalid_request",
            Some("ttl_seconds"),
        ),
        (
            json_body(r#"{"resource":"repo:a/b","ttl_seconds":3601}"#),
            400,
            "invalid_request",
            Some("ttl_seconds"),
        ),
        (
            json_body(r#"{"resource":"repo:a/b","ttl_seconds":-5}"#),
            400,
            "invalid_request",
            Some("ttl_seconds"),
        ),
        (
            json_body(r#"{"resource":"repo:a/b","ttl_seconds":"60"}"#),
            400,
            "invalid_request",
            Some("ttl_seconds"),
        ),
        (
            json_body(r#"{"resource":"repo:a/b","run_id":"has space"}"#),
            400,
            "invalid_request",
            Some("run_id"),
        ),
        (
            json_body(r#"{"resource":"repo:a/b","mode":"loud"}"#),
            400,
            "invalid_request",
            Some("mode"),
        ),
        (
            json_body(r#"{"resource":"repo:a/b","metadata":[1]}"#),
            400,
            "invalid_request",
            Some("metadata"),
        ),
    ];
    for (i, (request, status, code, field)) in cases.into_iter().enumerate() {
        let answer: Answer = server.raw(request).await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (status, code),
            "case {i}: {:#}",
            answer.body
        );
        answer.expect_error(status, code);
        assert_eq!(
            answer.body["error"]["field"].as_str(),
            field,
            "case {i}: {:#}",
            answer.body
        );
    }
}

#[tokio::test]
async fn other_endpoints_reject_bad_bodies_the_same_way() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let cases = [
        (
            "/v1/work/run/extend",
            json!({"run_id": "x", "ttl_seconds": 0}),
            "invalid_request",
        ),
        ("/v1/work/run/extend", json!({"run": "x"}), "unknown_field"),
        (
            "/v1/work/run/finish",
            json!({"run_id": "x", "outcome": "great"}),
            "invalid_request",
        ),
        (
            "/v1/work/run/finish",
            json!({"run_id": "x"}),
            "invalid_request",
        ),
        (
            "/v1/work/check",
            json!({"resource": "nope"}),
            "invalid_resource",
        ),
        (
            "/v1/auth/signup",
            json!({"email": "a@b.c"}),
            "invalid_request",
        ),
        (
            "/v1/auth/login",
            json!({"email": "a@b.c", "password": "x", "remember": true}),
            "unknown_field",
        ),
    ];
    for (path, body, code) in cases {
        // Sign-up and log-in take no key (an agent key there is refused
        // before the body is read).
        let answer = if path.starts_with("/v1/auth/") {
            server
                .raw(
                    server
                        .http
                        .post(format!("{}{path}", server.url))
                        .json(&body),
                )
                .await
        } else {
            agent.post(path, body).await
        };
        answer.expect_error(400, code);
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_error_format() {
    let server = TestServer::start().await;
    let answer = server
        .raw(server.http.get(format!("{}/v1/nothing", server.url)))
        .await;
    answer.expect_error(404, "not_found");
    let answer = server
        .raw(
            server
                .http
                .delete(format!("{}/v1/work/run/start", server.url)),
        )
        .await;
    answer.expect_error(405, "method_not_allowed");
}

/// SPEC §3 (v1.1): two keys that look the same must be the same key, so an
/// invisible or space-like character is refused wherever a resource is
/// named, with its code point; and an NFC-equal spelling names one resource.
#[tokio::test]
async fn look_alike_resource_keys_are_refused_naming_the_code_point_everywhere() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let window = json!({"start": "2030-01-01T10:00:00Z", "end": "2030-01-01T11:00:00Z"});
    for c in [
        '\u{200B}', '\u{200D}', '\u{FEFF}', '\u{00AD}', '\u{202E}', '\u{00A0}',
    ] {
        let code_point = format!("U+{:04X}", u32::from(c));
        let project = format!("project:home{c}page");
        let calendar = format!("calendar:team{c}-eng");
        let mut hold = window.clone();
        hold["resource"] = json!(calendar);
        let answers = [
            agent
                .post("/v1/work/run/start", json!({"resource": project}))
                .await,
            agent
                .post("/v1/work/check", json!({"resource": project}))
                .await,
            agent.post("/v1/holds", hold.clone()).await,
            agent.post("/v1/conflicts/check", hold.clone()).await,
            agent
                .get(&format!(
                    "/v1/availability?resource={}&from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z",
                    form_urlencoded::byte_serialize(calendar.as_bytes()).collect::<String>()
                ))
                .await,
        ];
        for (i, answer) in answers.into_iter().enumerate() {
            answer.expect_error(400, "invalid_resource");
            let message = answer.body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&code_point),
                "{code_point}, call {i}: {message}"
            );
        }
    }
    // The plain key is granted, and a decomposed spelling of a key is the
    // composed one: the second start is told the first holds it.
    let plain = agent.start_on("project:homepage").await;
    assert_eq!(plain["decision"], "proceed");
    let first = agent.start_on("project:caf\u{E9}").await;
    assert_eq!(first["decision"], "proceed");
    let again = agent.start_on("project:cafe\u{301}").await;
    assert_eq!(again["decision"], "skip_run", "{again:#}");
    assert_eq!(again["reason"]["holder"]["run_id"], first["run_id"]);
}

/// SPEC §4 (v1.1): a key twice in one object is refused, naming the key,
/// wherever it is; serde would keep the last, another parser the first.
#[tokio::test]
async fn a_duplicate_key_anywhere_in_a_body_is_refused_naming_it() {
    let server = TestServer::start().await;
    let agent = server.signup().await.agent("ci-bot").await;
    let cases = [
        (
            "/v1/work/run/start",
            r#"{"resource":"repo:acme/web","resource":"repo:acme/api"}"#,
            "resource",
        ),
        (
            "/v1/work/run/start",
            r#"{"resource":"repo:acme/web","metadata":{"branch":"main","branch":"prod"}}"#,
            "metadata.branch",
        ),
        (
            "/v1/holds",
            r#"{"resource":"calendar:x","start":"2030-01-01T10:00:00Z","end":"2030-01-01T11:00:00Z","end":"2030-01-03T11:00:00Z"}"#,
            "end",
        ),
    ];
    for (path, body, key) in cases {
        let answer = server
            .raw(
                post(&server, path, &agent.key)
                    .header("content-type", "application/json")
                    .body(body),
            )
            .await;
        answer.expect_error(400, "invalid_json");
        assert_eq!(answer.body["error"]["field"], key, "{body}");
        assert!(
            answer.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains(&format!("'{key}'")),
            "{:#}",
            answer.body
        );
    }
    // Nothing was claimed.
    let runs = agent.get("/v1/work/runs?status=active").await.expect(200);
    assert_eq!(runs["items"], json!([]));
}
