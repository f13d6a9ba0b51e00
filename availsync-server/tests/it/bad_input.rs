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
            Some("resource"),
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
            json_body(r#"{"resource":"calendar:team"}"#),
            400,
            "invalid_resource",
            Some("resource"),
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
