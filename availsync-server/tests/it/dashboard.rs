//! The dashboard's pages over real HTTP, without a browser: who may see and
//! change what, the Origin check on every form, the security headers, keys
//! shown once, and each page's main behaviour. (The browser test is in
//! `tests/dashboard/` of the availsync-e2e crate.)

use std::collections::BTreeSet;

use availsync_server::CONTENT_SECURITY_POLICY;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, redirect};
use serde_json::json;

use crate::auth_matrix::{MethodPath, router_routes};
use crate::support::{Auth, TestServer, session_cookie, unique_email};

const DASHBOARD_SOURCE: &str = include_str!("../../src/dashboard/mod.rs");
const PASSWORD: &str = "correct horse battery";

/// What a dashboard route is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A page anyone may see (log-in, sign-up); signed in, it moves on.
    PublicPage,
    /// A form anyone may post (log-in, sign-up).
    PublicForm,
    /// A page for a signed-in human.
    Page,
    /// A form for a signed-in human.
    Form,
    /// A static file.
    Asset,
}

/// One row per route of `src/dashboard/mod.rs`; `{…}` is filled in per cell.
const ROUTES: &[(&str, &str, Kind)] = &[
    ("GET", "/", Kind::PublicPage),
    ("GET", "/login", Kind::PublicPage),
    ("POST", "/login", Kind::PublicForm),
    ("GET", "/signup", Kind::PublicPage),
    ("POST", "/signup", Kind::PublicForm),
    ("POST", "/logout", Kind::Form),
    ("GET", "/agents", Kind::Page),
    ("POST", "/agents", Kind::Form),
    ("POST", "/agents/{id}/rotate", Kind::Form),
    ("POST", "/agents/{id}/mode", Kind::Form),
    ("GET", "/agents/{id}/delete", Kind::Page),
    ("POST", "/agents/{id}/delete", Kind::Form),
    ("GET", "/rules", Kind::Page),
    ("POST", "/rules", Kind::Form),
    ("GET", "/rules/{rule_id}/edit", Kind::Page),
    ("POST", "/rules/{rule_id}/edit", Kind::Form),
    ("GET", "/rules/{rule_id}/delete", Kind::Page),
    ("POST", "/rules/{rule_id}/delete", Kind::Form),
    ("GET", "/runs", Kind::Page),
    ("POST", "/runs/{claim_id}/release", Kind::Form),
    ("GET", "/activity", Kind::Page),
    ("GET", "/audit", Kind::Page),
    ("GET", "/usage", Kind::Page),
    ("GET", "/setup", Kind::Page),
    ("POST", "/setup/test", Kind::Form),
    ("GET", "/static/{file}", Kind::Asset),
];

/// A browser-like client: keeps no cookies by itself, follows no redirects.
struct Browser<'a> {
    server: &'a TestServer,
    http: reqwest::Client,
    cookie: Option<String>,
}

/// An HTML (or other) answer.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[track_caller]
    fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected answer (location {}): {}",
            self.location(),
            &self.body[..self.body.len().min(2000)]
        );
        self
    }

    /// The text of `<input … id="{id}" … value="…">`.
    fn input_value(&self, id: &str) -> Option<String> {
        let at = self.body.find(&format!("id=\"{id}\""))?;
        let tag_start = self.body[..at].rfind('<')?;
        let tag_end = at + self.body[at..].find('>')?;
        let tag = &self.body[tag_start..tag_end];
        let v = tag.find("value=\"")? + "value=\"".len();
        Some(tag[v..v + tag[v..].find('"')?].to_owned())
    }
}

impl<'a> Browser<'a> {
    fn new(server: &'a TestServer) -> Self {
        Self {
            server,
            http: reqwest::Client::builder()
                .redirect(redirect::Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    fn origin(&self) -> String {
        self.server.url.clone()
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        };
        let response = request.send().await.unwrap();
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send(self.http.get(format!("{}{path}", self.server.url)))
            .await
    }

    /// A form post as a browser sends it from the dashboard's own page.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_from(path, form, Some(&self.origin())).await
    }

    async fn post_from(&self, path: &str, form: &[(&str, &str)], origin: Option<&str>) -> Page {
        let mut request = self
            .http
            .post(format!("{}{path}", self.server.url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap());
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        self.send(request).await
    }

    /// Signs up through the form; keeps the cookie.
    async fn sign_up(&mut self) -> String {
        let email = unique_email();
        let page = self
            .post(
                "/signup",
                &[
                    ("workspace_name", "Acme"),
                    ("email", &email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        page.expect(303);
        assert_eq!(page.location(), "/agents");
        self.cookie = Some(session_cookie(&page.headers).expect("sign-up sets the cookie"));
        email
    }

    /// Creates an enforce agent through the form; answers it as an API
    /// client.
    async fn agent(&self, name: &str) -> crate::support::Agent<'a> {
        let (id, key) = self.create_agent(name, "enforce").await;
        crate::support::Agent {
            server: self.server,
            id,
            name: name.into(),
            key,
        }
    }

    /// Creates an agent through the form; answers (id, key).
    async fn create_agent(&self, name: &str, mode: &str) -> (String, String) {
        let page = self
            .post("/agents", &[("name", name), ("mode", mode)])
            .await;
        page.expect(200);
        let key = page.input_value("api-key").expect("the key is on the page");
        let agents = self
            .server
            .call(
                Method::GET,
                "/v1/agents",
                &Auth::Cookie(self.cookie.clone().unwrap()),
                None,
            )
            .await
            .expect(200);
        let id = agents["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == name)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        (id, key)
    }
}

#[track_caller]
fn assert_security_headers(page: &Page, what: &str) {
    assert_eq!(
        page.header("content-security-policy"),
        CONTENT_SECURITY_POLICY,
        "{what}"
    );
    assert_eq!(page.header("x-frame-options"), "DENY", "{what}");
    assert_eq!(page.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(page.header("referrer-policy"), "same-origin", "{what}");
}

#[test]
fn the_route_table_covers_the_dashboard_router() {
    let served = router_routes(DASHBOARD_SOURCE).unwrap();
    let table: BTreeSet<MethodPath> = ROUTES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        served, table,
        "src/dashboard/mod.rs and this test's ROUTES disagree"
    );
    assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self'"));
    assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
}

#[tokio::test]
async fn every_dashboard_route_answers_every_caller_as_designed() {
    let server = TestServer::start().await;
    let mut owner = Browser::new(&server);
    owner.sign_up().await;
    let cookie = owner.cookie.clone().unwrap();
    let (_, agent_key) = owner.create_agent("matrix-agent", "enforce").await;
    let agent = crate::support::Agent {
        server: &server,
        id: String::new(),
        name: "matrix-agent".into(),
        key: agent_key.clone(),
    };
    server
        .set_plan(
            &owner_workspace(&server, &cookie).await,
            availsync_types::Plan::Business,
        )
        .await;

    let foreign = "https://evil.example";
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for (n, (method, path, kind)) in ROUTES.iter().enumerate() {
        for caller in [
            "none",
            "agent-key",
            "session",
            "session-foreign-origin",
            "session-no-origin",
        ] {
            cells += 1;
            // A fresh target per cell, so that one cell's change (a delete, a
            // release, a log-out) cannot decide another's answer.
            let (target_agent, _) = owner
                .create_agent(&format!("target-{n}-{caller}"), "enforce")
                .await;
            let claim =
                agent.start_on(&format!("repo:matrix/r-{cells}")).await["claim"]["claim_id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
            let rule = server
                .call(
                    Method::POST,
                    "/v1/rules",
                    &Auth::Cookie(cookie.clone()),
                    Some(json!({"resource": format!("project:rule-{cells}")})),
                )
                .await
                .expect(201)["rule"]["rule_id"]
                .as_str()
                .unwrap()
                .to_owned();
            let url_path = path
                .replace("{id}", &target_agent)
                .replace("{claim_id}", &claim)
                .replace("{rule_id}", &rule)
                .replace("{file}", "app.css");
            let session = if *path == "/logout" {
                // Log-out ends the session: give it a session of its own.
                login_cookie(&server, &owner_email(&server, &cookie).await).await
            } else {
                cookie.clone()
            };
            let form: Vec<(&str, &str)> = match *path {
                "/login" => vec![
                    ("email", "nobody@example.com"),
                    ("password", "wrong password!"),
                ],
                "/signup" => vec![
                    ("workspace_name", "x"),
                    ("email", "bad"),
                    ("password", "short"),
                ],
                "/agents" => vec![("name", "from-matrix"), ("mode", "observe")],
                "/agents/{id}/mode" => vec![("mode", "observe")],
                "/rules" => vec![("resource", "project:from-matrix"), ("capacity", "2")],
                "/rules/{rule_id}/edit" => vec![("capacity", "3")],
                _ => vec![],
            };
            let url = format!("{}{url_path}", server.url);
            let http = &owner.http;
            let mut request = match *method {
                "GET" => http.get(&url),
                _ => http
                    .post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(serde_urlencoded::to_string(&form).unwrap()),
            };
            request = match caller {
                "none" => request,
                "agent-key" => request.bearer_auth(&agent_key),
                _ => request.header("cookie", &session),
            };
            if *method == "POST" {
                request = match caller {
                    "session-foreign-origin" => request.header("origin", foreign),
                    "session-no-origin" => request,
                    _ => request.header("origin", &server.url),
                };
            }
            let response = request.send().await.unwrap();
            let page = Page {
                status: response.status(),
                headers: response.headers().clone(),
                body: response.text().await.unwrap(),
            };
            let label = format!("{method} {path} × {caller}");
            assert_security_headers(&page, &label);

            let signed_in = matches!(
                caller,
                "session" | "session-no-origin" | "session-foreign-origin"
            );
            let refused_origin = *method == "POST"
                && matches!(caller, "session-foreign-origin" | "session-no-origin");
            let got = (page.status.as_u16(), page.location().to_owned());
            let ok = match (kind, caller) {
                _ if refused_origin => {
                    got.0 == 403 && page.body.contains("not sent from the dashboard")
                }
                (Kind::Asset, _) => {
                    got.0 == 200 && page.header("cache-control").contains("immutable")
                }
                (Kind::PublicPage, _) if signed_in => got.0 == 303 && got.1 == "/agents",
                (Kind::PublicPage, _) if *path == "/" => got.0 == 303 && got.1 == "/login",
                (Kind::PublicPage, _) => got.0 == 200,
                // Wrong credentials / invalid sign-up: the form again, with the error.
                (Kind::PublicForm, _) => matches!(got.0, 400 | 401) && page.body.contains("<form"),
                (Kind::Page | Kind::Form, "none") => got.0 == 303 && got.1.starts_with("/login"),
                (Kind::Page | Kind::Form, "agent-key") => {
                    got.0 == 403 && page.body.contains("Agent keys cannot use the dashboard")
                }
                (Kind::Page, _) => got.0 == 200 && page.header("cache-control") == "no-store",
                (Kind::Form, _) => matches!(got.0, 200 | 303),
            };
            if !ok {
                mismatches.push(format!("{label}: got {} {}", got.0, got.1));
            }
        }
    }
    assert_eq!(cells, ROUTES.len() * 5);
    assert!(
        mismatches.is_empty(),
        "{} of {cells} cells are wrong:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

async fn owner_workspace(server: &TestServer, cookie: &str) -> String {
    server
        .call(
            Method::GET,
            "/v1/session",
            &Auth::Cookie(cookie.to_owned()),
            None,
        )
        .await
        .expect(200)["workspace"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn owner_email(server: &TestServer, cookie: &str) -> String {
    server
        .call(
            Method::GET,
            "/v1/session",
            &Auth::Cookie(cookie.to_owned()),
            None,
        )
        .await
        .expect(200)["user"]["email"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn login_cookie(server: &TestServer, email: &str) -> String {
    let answer = server
        .call(
            Method::POST,
            "/v1/auth/login",
            &Auth::None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    session_cookie(&answer.headers).unwrap()
}

#[tokio::test]
async fn signing_up_and_logging_in_set_the_api_session_cookie() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    let email = browser.sign_up().await;
    let page = browser.get("/agents").await;
    page.expect(200);
    assert!(page.body.contains(&email));
    let set_cookie = browser.post("/logout", &[]).await;
    set_cookie.expect(303);
    assert_eq!(set_cookie.location(), "/login?logged_out=1");
    assert!(set_cookie.header("set-cookie").contains("Max-Age=0"));
    // The old cookie no longer works.
    let page = browser.get("/agents").await;
    assert_eq!(
        (page.status.as_u16(), page.location()),
        (303, "/login?next=%2Fagents")
    );

    let mut again = Browser::new(&server);
    let page = again
        .post(
            "/login",
            &[("email", &email), ("password", PASSWORD), ("next", "/runs")],
        )
        .await;
    page.expect(303);
    assert_eq!(page.location(), "/runs");
    let cookie = page.header("set-cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(flag), "{cookie}");
    }
    again.cookie = session_cookie(&page.headers);
    // The dashboard's session is the API's session.
    server
        .call(
            Method::GET,
            "/v1/session",
            &Auth::Cookie(again.cookie.clone().unwrap()),
            None,
        )
        .await
        .expect(200);
}

#[tokio::test]
async fn a_wrong_password_shows_the_form_again_without_the_password() {
    let server = TestServer::start().await;
    let mut owner = Browser::new(&server);
    let email = owner.sign_up().await;
    let browser = Browser::new(&server);
    let page = browser
        .post(
            "/login",
            &[("email", &email), ("password", "not the password")],
        )
        .await;
    page.expect(401);
    assert!(page.body.contains("The email or password is wrong."));
    assert!(page.body.contains(&email), "the email is kept");
    assert!(!page.body.contains("not the password"));
    assert!(!page.body.contains(PASSWORD));
}

#[tokio::test]
async fn after_log_in_next_is_only_ever_a_local_path() {
    let server = TestServer::start().await;
    let browser = Browser::new(&server);
    let page = browser.get("/login?next=https://evil.example/x").await;
    page.expect(200);
    assert!(
        page.body.contains(r#"name="next" value="/agents""#),
        "{}",
        page.body
    );
    let page = browser.get("/login?next=//evil.example").await;
    assert!(page.body.contains(r#"name="next" value="/agents""#));
    let page = browser.get("/login?next=/audit%3Faction%3Dlogin").await;
    assert!(
        page.body
            .contains(r#"name="next" value="/audit?action=login""#)
    );
}

#[tokio::test]
async fn a_new_key_is_shown_once_never_cached_and_works() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    let page = browser
        .post("/agents", &[("name", "ci-bot"), ("mode", "enforce")])
        .await;
    page.expect(200);
    assert_eq!(page.header("cache-control"), "no-store");
    assert!(page.body.contains("You will not see it again"));
    let key = page.input_value("api-key").unwrap();
    assert!(key.starts_with("avs_live_"));
    assert_eq!(
        page.body.matches(&key).count(),
        1,
        "the key is rendered once"
    );

    // The key works with the API, and no page shows it again.
    let agent = crate::support::Agent {
        server: &server,
        id: String::new(),
        name: "ci-bot".into(),
        key: key.clone(),
    };
    assert_eq!(agent.start_on("repo:acme/web").await["decision"], "proceed");
    for path in [
        "/agents",
        "/rules",
        "/runs",
        "/activity",
        "/audit",
        "/usage",
        "/setup",
    ] {
        let page = browser.get(path).await;
        page.expect(200);
        assert!(!page.body.contains(&key), "{path} shows the key");
        assert!(!page.body.contains(&key[..20]), "{path} shows the key");
    }
    assert!(
        browser.get("/agents").await.body.contains(&key[..13]),
        "the prefix is listed"
    );

    // Rotation: a new key, once; the old one stops working.
    let agents = browser.get("/agents").await;
    let id_at = agents.body.find("data-agent-id=\"").unwrap() + "data-agent-id=\"".len();
    let id = &agents.body[id_at..id_at + agents.body[id_at..].find('"').unwrap()];
    let page = browser.post(&format!("/agents/{id}/rotate"), &[]).await;
    page.expect(200);
    assert_eq!(page.header("cache-control"), "no-store");
    let new_key = page.input_value("api-key").unwrap();
    assert_ne!(new_key, key);
    assert!(page.body.contains("The previous key has stopped working."));
    agent
        .post("/v1/work/check", json!({"resource": "repo:acme/web"}))
        .await
        .expect_error(401, "unauthenticated");
}

#[tokio::test]
async fn names_are_escaped_everywhere() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    let (_, key) = browser
        .create_agent("<script>alert(1)</script>", "enforce")
        .await;
    let agent = crate::support::Agent {
        server: &server,
        id: String::new(),
        name: String::new(),
        key,
    };
    agent
        .start(json!({"resource": "project:<b>x</b>", "purpose": "<img src=x onerror=alert(1)>"}))
        .await;
    for path in ["/agents", "/runs", "/activity", "/audit"] {
        let page = browser.get(path).await;
        page.expect(200);
        assert!(!page.body.contains("<script>alert"), "{path}");
        assert!(!page.body.contains("<img src=x"), "{path}");
        assert!(!page.body.contains("<b>x</b>"), "{path}");
    }
    assert!(
        browser
            .get("/runs")
            .await
            .body
            .contains("&lt;img src=x onerror=alert(1)&gt;")
    );
}

#[tokio::test]
async fn changing_mode_and_deleting_go_through_the_api_rules() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    let (id, key) = browser.create_agent("nightly", "enforce").await;
    let page = browser
        .post(&format!("/agents/{id}/mode"), &[("mode", "observe")])
        .await;
    page.expect(303);
    let page = browser.get(page.location()).await;
    assert!(page.body.contains("observe</strong> mode"), "{}", page.body);
    browser
        .post(&format!("/agents/{id}/mode"), &[("mode", "sideways")])
        .await
        .expect(400);

    let agent = crate::support::Agent {
        server: &server,
        id: id.clone(),
        name: "nightly".into(),
        key,
    };
    assert_eq!(agent.start_on("repo:acme/web").await["mode"], "observe");
    let confirm = browser.get(&format!("/agents/{id}/delete")).await;
    confirm.expect(200);
    assert!(confirm.body.contains("Delete agent nightly?"));
    let page = browser.post(&format!("/agents/{id}/delete"), &[]).await;
    page.expect(303);
    assert!(
        browser
            .get(page.location())
            .await
            .body
            .contains("The agent was deleted")
    );
    agent
        .post("/v1/work/check", json!({"resource": "repo:acme/web"}))
        .await
        .expect_error(401, "unauthenticated");
    browser
        .get(&format!("/agents/{id}/delete"))
        .await
        .expect(404);
}

#[tokio::test]
async fn a_human_release_from_the_runs_page_is_audited() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    let email = browser.sign_up().await;
    let agent = browser.agent("ci-bot").await;
    let run = agent
        .start(json!({"resource": "repo:acme/web", "purpose": "deploy web"}))
        .await;
    let claim = run["claim"]["claim_id"].as_str().unwrap();
    let page = browser.get("/runs").await;
    page.expect(200);
    assert!(page.body.contains("repo:acme/web") && page.body.contains("deploy web"));
    assert!(page.body.contains(&format!("/runs/{claim}/release")));

    let page = browser.post(&format!("/runs/{claim}/release"), &[]).await;
    page.expect(303);
    assert_eq!(page.location(), format!("/runs?released={claim}"));
    let page = browser.get(page.location()).await;
    assert!(page.body.contains("Released claim"));
    assert!(page.body.contains("Nothing is running."));
    agent
        .extend(run["run_id"].as_str().unwrap())
        .await
        .expect_error(409, "lease_lost");

    let audit = browser.get("/audit?action=claim_released").await;
    audit.expect(200);
    assert!(audit.body.contains("released_by_user"));
    assert!(audit.body.contains(&email));
    let activity = browser.get("/activity?kind=run_released").await;
    assert!(activity.body.contains("run_released") && activity.body.contains("ci-bot"));
    // Releasing again is harmless.
    browser
        .post(&format!("/runs/{claim}/release"), &[])
        .await
        .expect(303);
}

#[tokio::test]
async fn the_runs_page_shows_each_claims_paths() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    let agent = browser.agent("api-bot").await;
    agent
        .start(json!({"resource": "repo:acme/web",
                      "working_set": {"paths": ["src/api/", "docs/<b>.md"], "mode": "read"}}))
        .await;
    let page = browser.get("/runs").await;
    page.expect(200);
    assert!(
        page.body.contains("<code>src/api/**</code>"),
        "{}",
        page.body
    );
    // Paths are text, never markup.
    assert!(page.body.contains("docs/&lt;b&gt;.md"));
    assert!(page.body.contains("read only"));
}

#[tokio::test]
async fn activity_and_audit_filter_and_page() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    let agent = browser.agent("ci-bot").await;
    let id = agent.id.clone();
    for n in 0..60 {
        agent
            .post(
                "/v1/conflicts/check",
                json!({"resource": format!("calendar:c{n}"),
                       "start": "2030-01-01T10:00:00Z", "end": "2030-01-01T11:00:00Z"}),
            )
            .await
            .expect(200);
    }
    let run = agent.start_on("repo:acme/web").await;
    agent
        .finish(run["run_id"].as_str().unwrap(), "succeeded")
        .await
        .expect(200);

    let page = browser
        .get(&format!("/activity?agent_id={id}&kind=run_started"))
        .await;
    page.expect(200);
    assert_eq!(page.body.matches("data-kind=\"run_started\"").count(), 1);
    assert_eq!(page.body.matches("data-kind=").count(), 1);
    let page = browser.get("/activity?resource=repo:acme/web").await;
    assert_eq!(
        page.body.matches("data-kind=").count(),
        2,
        "start and finish"
    );
    let page = browser.get("/activity?resource=not a resource").await;
    page.expect(400);
    assert!(page.body.contains("notice-error"));

    // 60 conflict checks, a start and a finish: two pages of activity.
    let first = browser.get("/activity").await;
    assert_eq!(first.body.matches("data-kind=").count(), 50);
    let older_at = first.body.find("rel=\"next\"").expect("an older page");
    let href_start = first.body[..older_at].rfind("href=\"").unwrap() + "href=\"".len();
    let href = first.body[href_start..href_start + first.body[href_start..].find('"').unwrap()]
        .replace("&amp;", "&");
    let second = browser.get(&href).await;
    second.expect(200);
    assert_eq!(second.body.matches("data-kind=").count(), 12);
    assert!(second.body.contains("Newest"));

    let audit = browser.get(&format!("/audit?actor_id={id}")).await;
    audit.expect(200);
    assert!(audit.body.contains("data-action=\"claim_created\""));
    assert!(
        !audit.body.contains("data-action=\"agent_created\""),
        "made by the human"
    );
}

#[tokio::test]
async fn usage_shows_the_plan_limits() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    let agent = browser.agent("ci-bot").await;
    agent.start_on("repo:acme/web").await;
    let page = browser.get("/usage").await;
    page.expect(200);
    assert!(
        page.body.contains(r#"<meter min="0" max="3" value="1""#),
        "{}",
        page.body
    );
    assert!(page.body.contains("Protected resources"));
}

#[tokio::test]
async fn the_setup_test_passes_and_leaves_nothing_behind() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    let setup = browser.get("/setup").await;
    setup.expect(200);
    for client in ["Cursor", "Claude Code", "Codex CLI", "VS Code"] {
        assert!(setup.body.contains(client), "{client}");
    }
    assert!(
        setup.body.contains(&format!(
            "&quot;AVAILSYNC_URL&quot;: &quot;{}&quot;",
            server.url
        )),
        "the snippets carry this server's URL"
    );
    assert!(!setup.body.contains("__AVAILSYNC_URL__"));

    let page = browser.post("/setup/test", &[]).await;
    page.expect(200);
    assert!(
        page.body.contains(r#"data-result="passed""#),
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("step-passed").count(), 7);
    let agents = browser.get("/agents").await;
    assert!(
        agents.body.contains("No agents yet."),
        "the temporary agent is gone"
    );

    // At the plan's agent limit it fails, says why, and cleans up.
    for n in 0..3 {
        browser.create_agent(&format!("a{n}"), "enforce").await;
    }
    let page = browser.post("/setup/test", &[]).await;
    assert!(page.body.contains(r#"data-result="failed""#));
    assert!(page.body.contains("plan_limit_agents"));
}

#[tokio::test]
async fn static_assets_are_cached_by_version() {
    let server = TestServer::start().await;
    let browser = Browser::new(&server);
    let login = browser.get("/login").await;
    let at = login.body.find("/static/app.css?v=").unwrap();
    let href = &login.body[at..at + login.body[at..].find('"').unwrap()];
    let css = browser.get(href).await;
    css.expect(200);
    assert!(css.header("content-type").starts_with("text/css"));
    let etag = css.header("etag").to_owned();
    let again = browser
        .send(
            browser
                .http
                .get(format!("{}/static/app.css", server.url))
                .header("if-none-match", &etag),
        )
        .await;
    again.expect(304);
    browser.get("/static/nope.js").await.expect(404);
    // No inline script or style anywhere (the CSP would block them).
    assert!(!login.body.contains("<script>"));
    assert!(!login.body.contains("style="));
    assert!(!login.body.contains("<style"));
}

/// The HTML of the table row (`<tr …>…</tr>`) that holds `marker`.
#[track_caller]
fn row<'p>(body: &'p str, marker: &str) -> &'p str {
    let at = body
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} on the page: {body}"));
    let start = body[..at].rfind("<tr").unwrap();
    let end = at + body[at..].find("</tr>").unwrap();
    &body[start..end]
}

/// The HTML of the element with `id="{id}"` up to the end of its tag and
/// its text (for a `<p>` or a `<textarea>`).
#[track_caller]
fn element<'p>(body: &'p str, id: &str) -> &'p str {
    let at = body
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} on the page: {body}"));
    let start = body[..at].rfind('<').unwrap();
    let end = at + body[at..].find("</").unwrap_or(body.len() - at);
    &body[start..end]
}

/// The workspace's rules as the API lists them.
async fn api_rules(browser: &Browser<'_>) -> Vec<serde_json::Value> {
    browser
        .server
        .call(
            Method::GET,
            "/v1/rules",
            &Auth::Cookie(browser.cookie.clone().unwrap()),
            None,
        )
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone()
}

fn rule_id_of(rules: &[serde_json::Value], resource: &str) -> String {
    rules.iter().find(|r| r["resource"] == resource).unwrap()["rule_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Asserts that a refused rule form blames `field` with a message holding
/// `says`, tied to the control for assistive technology.
#[track_caller]
fn assert_blamed(page: &Page, field: &str, says: &str) {
    let control = element(&page.body, &format!("f-{field}"));
    assert!(control.contains(r#"aria-invalid="true""#), "{control}");
    assert!(
        control.contains(&format!("f-{field}-error")),
        "the error is not in aria-describedby: {control}"
    );
    let error = element(&page.body, &format!("f-{field}-error"));
    assert!(error.contains(says), "{field}: {error}");
    assert_eq!(
        page.body.matches(r#"aria-invalid="true""#).count(),
        1,
        "only {field} is blamed"
    );
}

#[tokio::test]
async fn rules_are_declared_edited_and_deleted_from_the_rules_page() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    let page = browser.get("/rules").await;
    page.expect(200);
    assert!(page.body.contains("No rules yet."));
    assert!(
        page.body
            .contains(r#"<a href="/rules" aria-current="page">Rules</a>"#)
    );

    // Create: the catalog, then the homepage that depends on it.
    let page = browser
        .post(
            "/rules",
            &[("resource", "project:catalog"), ("depends_on", "db:main")],
        )
        .await;
    page.expect(303);
    assert!(page.location().starts_with("/rules?saved=rul_"));
    let page = browser
        .post(
            "/rules",
            &[
                ("resource", "project:homepage"),
                ("depends_on", "project:catalog,\r\npool:images"),
                ("capacity", "2"),
                ("mode", "observe"),
                ("max_ttl_seconds", "600"),
                ("note", "<b>the homepage</b> reads the catalog"),
            ],
        )
        .await;
    page.expect(303);
    let page = browser.get(page.location()).await;
    page.expect(200);
    assert!(
        page.body
            .contains("The rule for <code>project:homepage</code> is saved"),
        "{}",
        page.body
    );
    // Each rule with its closure: what claiming it also claims.
    let homepage = row(&page.body, r#"data-resource="project:homepage""#);
    let closure = &homepage[homepage.find(r#"class="closure""#).unwrap()..];
    for also in ["project:catalog", "pool:images", "db:main"] {
        assert!(
            closure.contains(&format!("<code>{also}</code>")),
            "{also}: {homepage}"
        );
    }
    assert!(homepage.contains("observe") && homepage.contains("600 s"));
    assert!(
        homepage.contains("&lt;b&gt;the homepage&lt;/b&gt;"),
        "the note is text"
    );
    let catalog = row(&page.body, r#"data-resource="project:catalog""#);
    assert!(catalog.contains("<code>db:main</code>") && !catalog.contains("pool:images"));
    let rules = api_rules(&browser).await;
    let stored = rules
        .iter()
        .find(|r| r["resource"] == "project:homepage")
        .unwrap();
    assert_eq!(
        (
            &stored["depends_on"],
            &stored["capacity"],
            &stored["mode"],
            &stored["max_ttl_seconds"]
        ),
        (
            &json!(["project:catalog", "pool:images"]),
            &json!(2),
            &json!("observe"),
            &json!(600)
        )
    );

    // A cycle is refused next to depends_on, keeping what was typed.
    let page = browser
        .post(
            "/rules",
            &[
                ("resource", "db:main"),
                ("depends_on", "project:homepage"),
                ("capacity", "4"),
                ("note", "keep me"),
            ],
        )
        .await;
    page.expect(400);
    assert_blamed(&page, "depends_on", "cycle");
    assert!(
        element(&page.body, "f-depends_on-error")
            .contains("db:main -&gt; project:homepage -&gt; project:catalog -&gt; db:main")
    );
    assert_eq!(page.input_value("f-resource").as_deref(), Some("db:main"));
    assert_eq!(page.input_value("f-capacity").as_deref(), Some("4"));
    assert!(element(&page.body, "f-depends_on").ends_with(">project:homepage"));
    assert!(element(&page.body, "f-note").ends_with(">keep me"));
    assert!(page.body.contains("The rule was not saved."));

    // A bad key, an out-of-range or non-numeric capacity, a second rule for
    // one resource: each next to its field.
    let page = browser
        .post(
            "/rules",
            &[
                ("resource", "project:x"),
                ("depends_on", "db:main\nnot a key"),
            ],
        )
        .await;
    page.expect(400);
    assert_blamed(&page, "depends_on", "“not a key”: Resource must look like");
    for (capacity, says) in [
        ("0", "must be 1 to 1000"),
        ("lots", "must be a whole number"),
    ] {
        let page = browser
            .post(
                "/rules",
                &[("resource", "project:x"), ("capacity", capacity)],
            )
            .await;
        page.expect(400);
        assert_blamed(&page, "capacity", says);
        assert_eq!(page.input_value("f-capacity").as_deref(), Some(capacity));
    }
    let page = browser
        .post(
            "/rules",
            &[("resource", "project:x"), ("max_ttl_seconds", "5")],
        )
        .await;
    page.expect(400);
    assert_blamed(&page, "max_ttl_seconds", "must be 10 to 3600");
    let page = browser.post("/rules", &[("resource", "not a key")]).await;
    page.expect(400);
    assert_blamed(&page, "resource", "must look like");
    let page = browser
        .post(
            "/rules",
            &[("resource", "project:catalog"), ("capacity", "1")],
        )
        .await;
    page.expect(409);
    assert_blamed(&page, "resource", "already has a rule");
    assert_eq!(
        api_rules(&browser).await.len(),
        2,
        "nothing refused was saved"
    );

    // Edit: the form is filled in, the resource read-only.
    let homepage_id = rule_id_of(&rules, "project:homepage");
    let catalog_id = rule_id_of(&rules, "project:catalog");
    let page = browser.get(&format!("/rules/{homepage_id}/edit")).await;
    page.expect(200);
    let resource = element(&page.body, "f-resource");
    assert!(resource.contains(r#"value="project:homepage""#) && resource.contains("readonly"));
    assert!(element(&page.body, "f-depends_on").ends_with(">project:catalog\npool:images"));
    assert_eq!(
        page.input_value("f-max_ttl_seconds").as_deref(),
        Some("600")
    );
    assert!(page.body.contains(r#"<option value="observe" selected>"#));
    let now = &page.body[page.body.find(r#"class="current-closure""#).unwrap()..];
    let now = &now[..now.find("</ul>").unwrap()];
    for also in ["project:catalog", "pool:images", "db:main"] {
        assert!(
            now.contains(&format!("<code>{also}</code>")),
            "{also}: {now}"
        );
    }
    // An edit that would close a cycle is refused the same way.
    let page = browser
        .post(
            &format!("/rules/{catalog_id}/edit"),
            &[
                ("depends_on", "db:main, project:homepage"),
                ("capacity", "1"),
            ],
        )
        .await;
    page.expect(400);
    assert_blamed(&page, "depends_on", "cycle");
    assert!(element(&page.body, "f-depends_on").ends_with(">db:main, project:homepage"));
    // Every field is the form's: cleared ones clear; the resource stays.
    let page = browser
        .post(
            &format!("/rules/{homepage_id}/edit"),
            &[
                ("resource", "project:elsewhere"),
                ("depends_on", "pool:images"),
                ("capacity", "3"),
                ("mode", ""),
                ("max_ttl_seconds", ""),
                ("note", ""),
            ],
        )
        .await;
    page.expect(303);
    assert_eq!(page.location(), format!("/rules?saved={homepage_id}"));
    let rules = api_rules(&browser).await;
    let edited = rules.iter().find(|r| r["rule_id"] == homepage_id).unwrap();
    assert_eq!(edited["resource"], "project:homepage");
    assert_eq!(
        (&edited["depends_on"], &edited["capacity"]),
        (&json!(["pool:images"]), &json!(3))
    );
    assert!(
        edited["mode"].is_null() && edited["max_ttl_seconds"].is_null() && edited["note"].is_null()
    );
    let page = browser.get("/rules").await;
    let homepage = row(&page.body, r#"data-resource="project:homepage""#);
    assert!(
        !homepage.contains("project:catalog"),
        "the closure follows the edit"
    );

    // Delete asks first, then goes.
    let confirm = browser.get(&format!("/rules/{catalog_id}/delete")).await;
    confirm.expect(200);
    assert!(
        confirm
            .body
            .contains("Delete the rule for project:catalog?")
    );
    assert!(
        confirm.body.contains("<code>db:main</code>"),
        "what it stops claiming"
    );
    let page = browser
        .post(&format!("/rules/{catalog_id}/delete"), &[])
        .await;
    page.expect(303);
    assert_eq!(page.location(), "/rules?deleted=project%3Acatalog");
    let page = browser.get(page.location()).await;
    assert!(
        page.body
            .contains("The rule for <code>project:catalog</code> was deleted")
    );
    assert!(!page.body.contains(r#"data-resource="project:catalog""#));
    assert_eq!(api_rules(&browser).await.len(), 1);
    browser
        .get(&format!("/rules/{catalog_id}/edit"))
        .await
        .expect(404);
    browser
        .post(&format!("/rules/{catalog_id}/delete"), &[])
        .await
        .expect(404);
    let audit = browser.get("/audit?action=rule_deleted").await;
    assert!(audit.body.contains("project:catalog"));
}

#[tokio::test]
async fn a_claim_on_several_resources_is_one_row_on_the_runs_page() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    let agent = browser.agent("ci-bot").await;
    // Asked for together…
    let together = agent
        .start(json!({"resources": ["project:web", "db:main"], "purpose": "migrate"}))
        .await;
    assert_eq!(together["decision"], "proceed", "{together}");
    // …and reached through depends_on.
    browser
        .post(
            "/rules",
            &[
                ("resource", "project:homepage"),
                ("depends_on", "pool:images"),
            ],
        )
        .await
        .expect(303);
    let reached = agent.start_on("project:homepage").await;
    assert_eq!(reached["decision"], "proceed", "{reached}");

    let page = browser.get("/runs").await;
    page.expect(200);
    assert_eq!(
        page.body.matches("data-run-id=").count(),
        2,
        "one row per claim"
    );
    for run in [&together, &reached] {
        let run_id = run["run_id"].as_str().unwrap();
        let html = row(&page.body, &format!(r#"data-run-id="{run_id}""#));
        let parts = run["claim"]["resources"].as_array().unwrap();
        assert_eq!(parts.len(), 2, "{run}");
        for part in parts {
            let (resource, token) = (
                part["resource"].as_str().unwrap(),
                part["fencing_token"].as_u64().unwrap(),
            );
            let at = html.find(&format!("<code class=\"resource\">{resource}</code>"));
            let at = at.unwrap_or_else(|| panic!("{resource} is not in its row: {html}"));
            let item = &html[at..at + html[at..].find("</li>").unwrap()];
            assert!(item.ends_with(&format!("#{token}</span>")), "{item}");
        }
        assert!(html.contains("per resource"));
    }
    let html = row(&page.body, r#"data-run-id=""#);
    assert!(
        html.contains("Release project:web, db:main from ci-bot?")
            || html.contains("Release project:homepage, pool:images from ci-bot?"),
        "the release names every resource: {html}"
    );
}

#[tokio::test]
async fn a_closure_too_large_is_refused_next_to_depends_on() {
    let server = TestServer::start().await;
    let mut browser = Browser::new(&server);
    browser.sign_up().await;
    // 1 + 20: within the limit of 32.
    let twenty: Vec<String> = (0..20).map(|n| format!("db:shard-{n}")).collect();
    browser
        .post(
            "/rules",
            &[
                ("resource", "project:catalog"),
                ("depends_on", &twenty.join("\n")),
            ],
        )
        .await
        .expect(303);
    // The homepage would reach itself, the catalog, its 20 and 15 more.
    let mut more: Vec<String> = (0..15).map(|n| format!("pool:img-{n}")).collect();
    more.insert(0, "project:catalog".into());
    let typed = more.join(", ");
    let page = browser
        .post(
            "/rules",
            &[("resource", "project:homepage"), ("depends_on", &typed)],
        )
        .await;
    page.expect(400);
    assert_blamed(&page, "depends_on", "at most 32");
    assert!(
        element(&page.body, "f-depends_on-error").contains("37 resources"),
        "the size is named"
    );
    assert!(element(&page.body, "f-depends_on").ends_with(&format!(">{typed}")));
    assert_eq!(
        api_rules(&browser).await.len(),
        1,
        "nothing refused was saved"
    );
    // The form's save is the API's: one audit event, written by the store.
    let audit = browser
        .server
        .call(
            Method::GET,
            "/v1/audit?action=rule_created",
            &Auth::Cookie(browser.cookie.clone().unwrap()),
            None,
        )
        .await
        .expect(200)["items"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(audit[0]["resource"], "project:catalog", "{audit:?}");
}

#[tokio::test]
async fn another_workspaces_rules_are_not_shown_nor_changed() {
    let server = TestServer::start().await;
    let mut owner = Browser::new(&server);
    owner.sign_up().await;
    owner
        .post(
            "/rules",
            &[("resource", "project:secret"), ("depends_on", "db:main")],
        )
        .await
        .expect(303);
    let rule_id = rule_id_of(&api_rules(&owner).await, "project:secret");

    let mut other = Browser::new(&server);
    other.sign_up().await;
    let page = other.get("/rules").await;
    page.expect(200);
    assert!(!page.body.contains("project:secret"));
    assert!(page.body.contains("No rules yet."));
    other
        .get(&format!("/rules/{rule_id}/edit"))
        .await
        .expect(404);
    other
        .post(&format!("/rules/{rule_id}/edit"), &[("capacity", "9")])
        .await
        .expect(404);
    other
        .get(&format!("/rules/{rule_id}/delete"))
        .await
        .expect(404);
    other
        .post(&format!("/rules/{rule_id}/delete"), &[])
        .await
        .expect(404);
    // The same resource is free to have a rule in the other workspace.
    other
        .post("/rules", &[("resource", "project:secret")])
        .await
        .expect(303);

    let rules = api_rules(&owner).await;
    assert_eq!(rules.len(), 1);
    assert_eq!(
        (&rules[0]["capacity"], &rules[0]["depends_on"]),
        (&json!(1), &json!(["db:main"]))
    );
}
