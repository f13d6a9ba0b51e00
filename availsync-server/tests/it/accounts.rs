//! Sign-up, log-in, sessions, throttling, cookies and the Origin check.

use reqwest::Method;
use serde_json::json;

use availsync_server::ServerConfig;

use crate::storage::Storage;
use crate::support::{Auth, TestServer, session_cookie, unique_email};

fn signup_body(email: &str) -> serde_json::Value {
    json!({"email": email, "password": "correct horse battery", "workspace_name": "Acme"})
}

#[tokio::test]
async fn signup_sets_a_strict_http_only_cookie_and_opens_a_session() {
    let server = TestServer::start().await;
    let email = unique_email();
    let answer = server
        .call(
            Method::POST,
            "/v1/auth/signup",
            &Auth::None,
            Some(signup_body(&email)),
        )
        .await;
    let set_cookie = answer.headers["set-cookie"].to_str().unwrap().to_owned();
    for part in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    // The test server is started for plain-HTTP local use.
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    let cookie = session_cookie(&answer.headers).unwrap();
    let body = answer.expect(201);
    assert_eq!(body["user"]["email"], email.as_str());
    assert!(body["workspace"]["id"].as_str().unwrap().starts_with("ws_"));
    assert!(body["user"]["id"].as_str().unwrap().starts_with("usr_"));

    let session = server
        .call(Method::GET, "/v1/session", &Auth::Cookie(cookie), None)
        .await
        .expect(200);
    assert_eq!(session["plan"]["name"], "free");
    assert_eq!(
        session["plan"]["limits"],
        json!({"agents": 3, "active_claims": 3})
    );
    assert_eq!(session["workspace"], body["workspace"]);
}

#[tokio::test]
async fn a_taken_email_is_refused_whatever_its_case() {
    let server = TestServer::start().await;
    let email = unique_email();
    server
        .call(
            Method::POST,
            "/v1/auth/signup",
            &Auth::None,
            Some(signup_body(&email)),
        )
        .await
        .expect(201);
    server
        .call(
            Method::POST,
            "/v1/auth/signup",
            &Auth::None,
            Some(signup_body(&email.to_uppercase())),
        )
        .await
        .expect_error(409, "email_taken");
}

#[tokio::test]
async fn signup_rejects_short_passwords_bad_emails_and_blank_names() {
    let server = TestServer::start().await;
    let cases = [
        (
            json!({"email": unique_email(), "password": "short", "workspace_name": "A"}),
            "password",
        ),
        (
            json!({"email": "not-an-email", "password": "long enough pw", "workspace_name": "A"}),
            "email",
        ),
        (
            json!({"email": unique_email(), "password": "long enough pw", "workspace_name": "  "}),
            "workspace_name",
        ),
    ];
    for (body, field) in cases {
        let answer = server
            .call(Method::POST, "/v1/auth/signup", &Auth::None, Some(body))
            .await;
        answer.expect_error(400, "invalid_request");
        assert_eq!(answer.body["error"]["field"], field);
    }
}

#[tokio::test]
async fn login_works_case_insensitively_and_wrong_password_equals_unknown_email() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let login = |email: String, password: &'static str| {
        let server = &server;
        async move {
            server
                .call(
                    Method::POST,
                    "/v1/auth/login",
                    &Auth::None,
                    Some(json!({"email": email, "password": password})),
                )
                .await
        }
    };
    let ok = login(human.email.to_uppercase(), "correct horse battery").await;
    assert!(session_cookie(&ok.headers).is_some());
    ok.expect(200);

    let wrong = login(human.email.clone(), "wrong password!").await;
    let unknown = login(unique_email(), "wrong password!").await;
    wrong.expect_error(401, "unauthenticated");
    unknown.expect_error(401, "unauthenticated");
    assert_eq!(
        wrong.body["error"]["message"],
        unknown.body["error"]["message"]
    );
}

#[tokio::test]
async fn five_failures_within_fifteen_minutes_throttle_that_email_from_that_client() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let attempt = |password: &'static str| {
        let server = &server;
        let email = human.email.clone();
        async move {
            server
                .call(
                    Method::POST,
                    "/v1/auth/login",
                    &Auth::None,
                    Some(json!({"email": email, "password": password})),
                )
                .await
        }
    };
    for _ in 0..5 {
        attempt("wrong password!")
            .await
            .expect_error(401, "unauthenticated");
    }
    // Even the right password is refused while throttled.
    let throttled = attempt("correct horse battery").await;
    throttled.expect_error(429, "rate_limited");
    let retry: u64 = throttled.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");

    // Another email is not affected.
    let other = server.signup().await;
    server
        .call(
            Method::POST,
            "/v1/auth/login",
            &Auth::None,
            Some(json!({"email": other.email, "password": "correct horse battery"})),
        )
        .await
        .expect(200);

    server
        .clock
        .advance(std::time::Duration::from_secs(15 * 60 + 1));
    attempt("correct horse battery").await.expect(200);
}

#[tokio::test]
async fn logout_revokes_the_session() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    human
        .call(Method::POST, "/v1/auth/logout", None)
        .await
        .expect(204);
    human
        .call(Method::GET, "/v1/session", None)
        .await
        .expect_error(401, "unauthenticated");
    server
        .call(Method::GET, "/v1/session", &Auth::None, None)
        .await
        .expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn sessions_expire() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    server
        .clock
        .advance(std::time::Duration::from_secs(7 * 24 * 3600 + 1));
    human
        .call(Method::GET, "/v1/session", None)
        .await
        .expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn cookie_state_changes_from_another_origin_are_refused() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    let Auth::Cookie(cookie) = &human.auth else {
        unreachable!()
    };
    let post = |origin: String| {
        server
            .http
            .post(format!("{}/v1/agents", server.url))
            .header("cookie", cookie)
            .header("origin", origin)
            .json(&json!({"name": "bot"}))
    };
    server
        .raw(post("https://evil.example".into()))
        .await
        .expect_error(403, "forbidden");
    server.raw(post(server.url.clone())).await.expect(201);
}

/// SPEC §5 (v1.1): the hard stop is per (email, client). An attacker who
/// fails five times on a victim's email is stopped; the victim, from their
/// own address, still logs in (answers about that email only slow down).
#[tokio::test]
async fn an_attackers_failures_stop_the_attacker_but_not_the_victim_from_another_address() {
    let server = TestServer::start_configured(&Storage::for_test(), |config| ServerConfig {
        trust_forwarded_for: true,
        ..config
    })
    .await;
    let victim = server.signup().await;
    let login_from = |address: &'static str, password: &'static str| {
        let request = server
            .http
            .post(format!("{}/v1/auth/login", server.url))
            .header("x-forwarded-for", address)
            .json(&json!({"email": victim.email, "password": password}));
        server.raw(request)
    };
    for _ in 0..5 {
        login_from("203.0.113.9", "wrong password!")
            .await
            .expect_error(401, "unauthenticated");
    }
    login_from("203.0.113.9", "correct horse battery")
        .await
        .expect_error(429, "rate_limited");
    let started = std::time::Instant::now();
    let answer = login_from("198.51.100.7", "correct horse battery").await;
    assert!(
        session_cookie(&answer.headers).is_some(),
        "the victim is signed in"
    );
    answer.expect(200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "slowed, not stopped"
    );
    // The attacker is still stopped.
    login_from("203.0.113.9", "correct horse battery")
        .await
        .expect_error(429, "rate_limited");
}

/// Without --trust-forwarded-for the header is not believed: a client
/// cannot dodge its own throttle by naming another address.
#[tokio::test]
async fn a_forwarded_for_header_is_ignored_unless_the_server_trusts_it() {
    let server = TestServer::start().await;
    let human = server.signup().await;
    for n in 0..6 {
        let request = server
            .http
            .post(format!("{}/v1/auth/login", server.url))
            .header("x-forwarded-for", format!("203.0.113.{n}"))
            .json(&json!({"email": human.email, "password": "wrong password!"}));
        let answer = server.raw(request).await;
        if n < 5 {
            answer.expect_error(401, "unauthenticated");
        } else {
            answer.expect_error(429, "rate_limited");
        }
    }
}

#[tokio::test]
async fn sign_ups_from_one_address_are_limited() {
    let server = TestServer::start_configured(&Storage::for_test(), |config| ServerConfig {
        signups_per_client: 2,
        ..config
    })
    .await;
    for i in 0..3 {
        let answer = server
            .call(
                Method::POST,
                "/v1/auth/signup",
                &Auth::None,
                Some(signup_body(&unique_email())),
            )
            .await;
        if i < 2 {
            answer.expect(201);
        } else {
            let retry: u64 = answer.headers["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=600).contains(&retry), "{retry}");
            answer.expect_error(429, "rate_limited");
        }
    }
}
