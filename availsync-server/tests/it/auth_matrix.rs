//! Every route × every kind of caller answers what SPEC §5 requires.
//!
//! The routes come from the server itself: the served `/openapi.json` and the
//! router in `src/http/mod.rs`. A route without a row in [`ROUTES`], or a row
//! without a route, fails the test, so a route added later cannot escape the
//! matrix.

use std::collections::BTreeSet;

use availsync_types::Plan;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Answer, Auth, TestServer, session_cookie};

/// `("GET", "/v1/agents")`.
pub type MethodPath = (String, String);

/// Routes the OpenAPI document leaves out on purpose: the document itself.
const UNDOCUMENTED: &[(&str, &str)] = &[("GET", "/openapi.json")];

/// The router's source, read for its `.route(...)` calls.
const ROUTER_SOURCE: &str = include_str!("../../src/http/mod.rs");

/// How a router source may take in the dashboard (see `router_routes`):
/// `server.rs` merges it, the API's router no longer does.
pub const DASHBOARD_MERGE: &str = ".merge(crate::dashboard::router(state.clone()))";

/// The password of every human in this test (support's signup uses it).
const PASSWORD: &str = "correct horse battery";

/// An origin that is not the server's.
const FOREIGN_ORIGIN: &str = "https://evil.example";

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoAuth,
    MalformedHeader,
    UnknownKey,
    DeletedAgentKey,
    AgentKey,
    OtherWorkspaceKey,
    Session,
    ExpiredSession,
    OtherWorkspaceSession,
    /// The valid session, on a request whose `Origin` names another origin.
    CrossOriginSession,
}

const CALLERS: [Caller; 10] = [
    Caller::NoAuth,
    Caller::MalformedHeader,
    Caller::UnknownKey,
    Caller::DeletedAgentKey,
    Caller::AgentKey,
    Caller::OtherWorkspaceKey,
    Caller::Session,
    Caller::ExpiredSession,
    Caller::OtherWorkspaceSession,
    Caller::CrossOriginSession,
];

impl Caller {
    fn label(self) -> &'static str {
        match self {
            Caller::NoAuth => "no auth",
            Caller::MalformedHeader => "malformed Authorization",
            Caller::UnknownKey => "unknown API key",
            Caller::DeletedAgentKey => "deleted agent's key",
            Caller::AgentKey => "agent key",
            Caller::OtherWorkspaceKey => "other workspace's agent key",
            Caller::Session => "session cookie",
            Caller::ExpiredSession => "expired session cookie",
            Caller::OtherWorkspaceSession => "other workspace's session cookie",
            Caller::CrossOriginSession => "session cookie, cross-origin",
        }
    }
}

/// Who a route is for (SPEC §5's caller table).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No authentication: credentials, if any, are ignored.
    Public,
    /// Opens a human session (sign-up, log-in): no credentials needed, and
    /// anything that carries an agent key (`Bearer avs_live_…`, valid or
    /// not) is refused with `403 agent_key_not_allowed` (SPEC §5).
    SessionEntry,
    /// Humans only.
    Human,
    /// Agents only (`work/run/*`).
    Agent,
    /// Agents and humans.
    Both,
}

/// The real object a cell's `{…}` path parameter or body names. It is made
/// afresh for every cell, in the first workspace, so the cell's caller is
/// what decides the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    None,
    /// An agent (made by the first workspace's human).
    Agent,
    /// An active run of the first workspace's agent (a working set, so
    /// that its paths can change).
    Run,
    /// A hold made by the first workspace's agent.
    Hold,
    /// A rule of the first workspace (made by its human).
    Rule,
    /// The live claim of an active run of the first workspace's agent.
    Claim,
    /// No object, but the cell's session is a fresh one (logout ends it).
    FreshSession,
}

/// What a cell's body builder can use.
struct Cell<'a> {
    n: usize,
    target: &'a str,
    email: &'a str,
}

/// One route and what it needs.
struct Route {
    method: &'static str,
    path: &'static str,
    access: Access,
    /// The status of an allowed call.
    success: u16,
    target: Target,
    query: &'static str,
    body: Option<fn(&Cell) -> Value>,
}

const fn route(method: &'static str, path: &'static str, access: Access, success: u16) -> Route {
    Route {
        method,
        path,
        access,
        success,
        target: Target::None,
        query: "",
        body: None,
    }
}

impl Route {
    const fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    const fn query(mut self, query: &'static str) -> Self {
        self.query = query;
        self
    }

    const fn body(mut self, body: fn(&Cell) -> Value) -> Self {
        self.body = Some(body);
        self
    }
}

const WINDOW_START: &str = "2030-01-01T10:00:00.000Z";
const WINDOW_END: &str = "2030-01-01T11:00:00.000Z";

/// The expectations table: one row per route the server has.
const ROUTES: &[Route] = &[
    route("GET", "/health", Access::Public, 200),
    route("GET", "/livez", Access::Public, 200),
    route("GET", "/readyz", Access::Public, 200),
    route("GET", "/openapi.json", Access::Public, 200),
    route("POST", "/v1/auth/signup", Access::SessionEntry, 201).body(|c| {
        json!({"email": format!("matrix-{}@example.com", c.n), "password": PASSWORD, "workspace_name": "Matrix"})
    }),
    route("POST", "/v1/auth/login", Access::SessionEntry, 200)
        .body(|c| json!({"email": c.email, "password": PASSWORD})),
    route("POST", "/v1/auth/logout", Access::Human, 204).target(Target::FreshSession),
    route("GET", "/v1/session", Access::Human, 200),
    route("POST", "/v1/agents", Access::Human, 201)
        .body(|c| json!({"name": format!("matrix-{}", c.n)})),
    route("GET", "/v1/agents", Access::Human, 200),
    route("PATCH", "/v1/agents/{id}", Access::Human, 200)
        .target(Target::Agent)
        .body(|c| json!({"name": format!("renamed-{}", c.n)})),
    route("DELETE", "/v1/agents/{id}", Access::Human, 204).target(Target::Agent),
    route("POST", "/v1/agents/{id}/rotate-key", Access::Human, 200).target(Target::Agent),
    route("POST", "/v1/rules", Access::Human, 201)
        .body(|c| json!({"resource": format!("project:matrix-rule-{}", c.n)})),
    route("GET", "/v1/rules", Access::Both, 200),
    route("PATCH", "/v1/rules/{rule_id}", Access::Human, 200)
        .target(Target::Rule)
        .body(|_| json!({"capacity": 2})),
    route("DELETE", "/v1/rules/{rule_id}", Access::Human, 204).target(Target::Rule),
    route("POST", "/v1/work/run/start", Access::Agent, 200)
        .body(|c| json!({"resource": format!("repo:matrix/start-{}", c.n)})),
    route("POST", "/v1/work/run/extend", Access::Agent, 200)
        .target(Target::Run)
        .body(|c| json!({"run_id": c.target})),
    route("POST", "/v1/work/run/finish", Access::Agent, 200)
        .target(Target::Run)
        .body(|c| json!({"run_id": c.target, "outcome": "succeeded"})),
    route("POST", "/v1/work/run/working-set", Access::Agent, 200)
        .target(Target::Run)
        .body(|c| json!({"run_id": c.target, "add": [format!("docs/{}.md", c.n)]})),
    route("POST", "/v1/work/check", Access::Both, 200)
        .body(|c| json!({"resource": format!("repo:matrix/check-{}", c.n)})),
    route("GET", "/v1/work/runs", Access::Both, 200).query("?status=all"),
    route("POST", "/v1/work/claims/{claim_id}/release", Access::Human, 200).target(Target::Claim),
    route("GET", "/v1/availability", Access::Both, 200).query(
        "?resource=calendar:matrix&from=2030-01-01T00:00:00.000Z&to=2030-01-02T00:00:00.000Z",
    ),
    route("POST", "/v1/conflicts/check", Access::Both, 200).body(|c| {
        json!({"resource": format!("calendar:conflicts-{}", c.n), "start": WINDOW_START, "end": WINDOW_END})
    }),
    route("POST", "/v1/holds", Access::Both, 201).body(|c| {
        json!({"resource": format!("calendar:create-{}", c.n), "start": WINDOW_START, "end": WINDOW_END})
    }),
    route("GET", "/v1/holds", Access::Both, 200),
    route("DELETE", "/v1/holds/{hold_id}", Access::Both, 204).target(Target::Hold),
    route("GET", "/v1/activity", Access::Both, 200),
    route("GET", "/v1/audit", Access::Human, 200),
    // A stream that opens never ends; an unknown start id gets an answer
    // that does, once the caller is let in (tests/it/events.rs opens it).
    route("GET", "/v1/events", Access::Both, 400)
        .query("?after=evt_00000000000000000000000000000000"),
    route("POST", "/v1/activity/usage", Access::Both, 200).body(|_| json!({})),
];

/// What a cell must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Status(u16),
    Error(u16, &'static str),
}

impl std::fmt::Display for Expect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expect::Status(status) => write!(f, "{status}"),
            Expect::Error(status, code) => write!(f, "{status} {code}"),
        }
    }
}

/// SPEC §4–§6 applied to one cell.
fn expected(route: &Route, caller: Caller) -> Expect {
    use Caller::*;
    if route.access == Access::Public {
        // Health and the document take no credentials.
        return Expect::Status(route.success);
    }
    if route.access == Access::SessionEntry {
        // "An agent key on a human endpoint gets 403 agent_key_not_allowed."
        return match caller {
            UnknownKey | DeletedAgentKey | AgentKey | OtherWorkspaceKey => {
                Expect::Error(403, "agent_key_not_allowed")
            }
            _ => Expect::Status(route.success),
        };
    }
    let agent = matches!(caller, AgentKey | OtherWorkspaceKey);
    let human = matches!(caller, Session | OtherWorkspaceSession | CrossOriginSession);
    let other_workspace = matches!(caller, OtherWorkspaceKey | OtherWorkspaceSession);
    if !agent && !human {
        // No credentials, a header that is not `Bearer <key>`, a key that
        // was never issued or whose agent is deleted, an expired session.
        return Expect::Error(401, "unauthenticated");
    }
    if caller == CrossOriginSession && route.method != "GET" {
        // "Cookie-authenticated state changes whose Origin header names
        // another origin ... are refused with 403" (checked before the kind
        // of caller, so it is `forbidden` even on agent-only routes).
        return Expect::Error(403, "forbidden");
    }
    if agent && route.access == Access::Human {
        return Expect::Error(403, "agent_key_not_allowed");
    }
    if human && route.access == Access::Agent {
        return Expect::Error(403, "agent_key_required");
    }
    if other_workspace
        && matches!(
            route.target,
            Target::Agent | Target::Run | Target::Hold | Target::Claim | Target::Rule
        )
    {
        // "404 not_found (also for objects of another workspace)".
        return Expect::Error(404, "not_found");
    }
    Expect::Status(route.success)
}

/// The two workspaces and every credential the callers use.
struct World<'a> {
    server: &'a TestServer,
    /// The first workspace's human, for making targets; never a caller.
    setup: Auth,
    a_email: String,
    b_email: String,
    a_session: String,
    b_session: String,
    expired_session: String,
    agent_key: String,
    other_workspace_key: String,
    deleted_agent_key: String,
}

impl<'a> World<'a> {
    async fn build(server: &'a TestServer) -> Self {
        let a = server.signup().await;
        // The sign-up session is the one left to expire: the clock moves
        // past its lifetime before any other session exists.
        let Auth::Cookie(expired_session) = a.auth.clone() else {
            unreachable!()
        };
        server.clock.advance(
            availsync_server::config::DEFAULT_SESSION_TTL + std::time::Duration::from_secs(60),
        );
        let setup = Auth::Cookie(login(server, &a.email).await);
        let a_session = login(server, &a.email).await;
        server.set_plan(&a.workspace_id, Plan::Business).await;
        let setup_human = crate::support::Human {
            server,
            auth: setup.clone(),
            email: a.email.clone(),
            workspace_id: a.workspace_id.clone(),
        };
        let agent_key = setup_human.agent("matrix-agent").await.key;
        let deleted = setup_human.agent("deleted-agent").await;
        setup_human
            .call(Method::DELETE, &format!("/v1/agents/{}", deleted.id), None)
            .await
            .expect(204);

        let b = server.signup().await;
        server.set_plan(&b.workspace_id, Plan::Business).await;
        let other_workspace_key = b.agent("other-workspace-agent").await.key;
        let Auth::Cookie(b_session) = b.auth.clone() else {
            unreachable!()
        };
        Self {
            server,
            setup,
            a_email: a.email.clone(),
            b_email: b.email.clone(),
            a_session,
            b_session,
            expired_session,
            agent_key,
            other_workspace_key,
            deleted_agent_key: deleted.key,
        }
    }

    /// Makes the cell's target, in the first workspace; answers its id.
    async fn make_target(&self, target: Target, n: usize) -> String {
        let agent = Auth::Key(self.agent_key.clone());
        match target {
            Target::None | Target::FreshSession => String::new(),
            Target::Agent => self
                .server
                .call(
                    Method::POST,
                    "/v1/agents",
                    &self.setup,
                    Some(json!({"name": format!("target-{n}")})),
                )
                .await
                .expect(201)["agent"]["id"]
                .as_str()
                .unwrap()
                .to_owned(),
            Target::Run => self
                .server
                .call(
                    Method::POST,
                    "/v1/work/run/start",
                    &agent,
                    Some(json!({
                        "resource": format!("repo:matrix/target-{n}"),
                        "working_set": {"paths": ["src/"]},
                    })),
                )
                .await
                .expect(200)["run_id"]
                .as_str()
                .unwrap()
                .to_owned(),
            Target::Claim => self
                .server
                .call(
                    Method::POST,
                    "/v1/work/run/start",
                    &agent,
                    Some(json!({"resource": format!("repo:matrix/claim-{n}")})),
                )
                .await
                .expect(200)["claim"]["claim_id"]
                .as_str()
                .unwrap()
                .to_owned(),
            Target::Rule => self
                .server
                .call(
                    Method::POST,
                    "/v1/rules",
                    &self.setup,
                    Some(json!({"resource": format!("project:rule-target-{n}")})),
                )
                .await
                .expect(201)["rule"]["rule_id"]
                .as_str()
                .unwrap()
                .to_owned(),
            Target::Hold => self
                .server
                .call(
                    Method::POST,
                    "/v1/holds",
                    &agent,
                    Some(json!({"resource": format!("calendar:target-{n}"), "start": WINDOW_START, "end": WINDOW_END})),
                )
                .await
                .expect(201)["hold"]["hold_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        }
    }

    /// The caller's request headers; a fresh session when the route ends it.
    async fn authorise(
        &self,
        mut request: reqwest::RequestBuilder,
        caller: Caller,
        fresh_session: bool,
    ) -> reqwest::RequestBuilder {
        let a_session = if fresh_session {
            login(self.server, &self.a_email).await
        } else {
            self.a_session.clone()
        };
        let b_session = if fresh_session {
            login(self.server, &self.b_email).await
        } else {
            self.b_session.clone()
        };
        match caller {
            Caller::NoAuth => request,
            Caller::MalformedHeader => {
                request.header("authorization", "Basic bWF0cml4OnBhc3N3b3Jk")
            }
            Caller::UnknownKey => request.bearer_auth(format!("avs_live_{}", "A".repeat(43))),
            Caller::DeletedAgentKey => request.bearer_auth(&self.deleted_agent_key),
            Caller::AgentKey => request.bearer_auth(&self.agent_key),
            Caller::OtherWorkspaceKey => request.bearer_auth(&self.other_workspace_key),
            Caller::Session => request.header("cookie", a_session),
            Caller::ExpiredSession => request.header("cookie", &self.expired_session),
            Caller::OtherWorkspaceSession => request.header("cookie", b_session),
            Caller::CrossOriginSession => {
                request = request.header("cookie", a_session);
                request.header("origin", FOREIGN_ORIGIN)
            }
        }
    }
}

/// Logs in over HTTP; answers the `Cookie` header value.
async fn login(server: &TestServer, email: &str) -> String {
    let answer = server
        .call(
            Method::POST,
            "/v1/auth/login",
            &Auth::None,
            Some(json!({"email": email, "password": PASSWORD})),
        )
        .await;
    let cookie = session_cookie(&answer.headers).expect("login sets a session cookie");
    answer.expect(200);
    cookie
}

/// Every `(method, path)` the served OpenAPI document lists, with the
/// security schemes it declares.
fn documented(doc: &Value) -> Vec<(String, String, BTreeSet<String>)> {
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if !methods.contains(&method.as_str()) {
                continue;
            }
            let schemes = operation["security"]
                .as_array()
                .map(|alternatives| {
                    alternatives
                        .iter()
                        .filter_map(Value::as_object)
                        .flat_map(|scheme| scheme.keys().cloned())
                        .collect()
                })
                .unwrap_or_default();
            routes.push((method.to_uppercase(), path.clone(), schemes));
        }
    }
    routes
}

/// `(method, path)` of every `.route(...)` call in `router()`, with the
/// prefix of the router it is nested under.
pub fn router_routes(source: &str) -> Result<BTreeSet<MethodPath>, String> {
    let start = source.find("pub fn router(").ok_or("no `pub fn router(`")?;
    let open = start + source[start..].find('{').ok_or("no body")?;
    let body = &source[open + 1..open + matching(&source[open..], '{', '}')?];
    let mut nested: Vec<(String, String)> = Vec::new();
    let mut routers: Vec<(Option<String>, Vec<MethodPath>)> = Vec::new();
    for statement in body.split(';') {
        let statement = statement.trim();
        let name = statement
            .strip_prefix("let ")
            .and_then(|rest| rest.split_once('='))
            .map(|(name, _)| name.trim().to_owned());
        let mut routes = Vec::new();
        let mut rest = statement;
        while let Some(at) = rest.find(".route(") {
            let call = &rest[at + ".route".len()..];
            let end = matching(call, '(', ')')?;
            routes.extend(route_call(&call[1..end])?);
            rest = &call[end..];
        }
        let mut rest = statement;
        while let Some(at) = rest.find(".nest(") {
            let call = &rest[at + ".nest".len()..];
            let end = matching(call, '(', ')')?;
            let (prefix, router) = call[1..end].split_once(',').ok_or("odd .nest(")?;
            nested.push((
                router.trim().to_owned(),
                prefix.trim().trim_matches('"').to_owned(),
            ));
            rest = &call[end..];
        }
        // The dashboard's HTML pages are merged in whole; they are not API
        // routes, and tests/it/dashboard.rs holds their own route × caller
        // table, read from src/dashboard/mod.rs the same way.
        let statement = &statement.replace(DASHBOARD_MERGE, "");
        for unsupported in [".merge(", ".route_service(", ".nest_service("] {
            if statement.contains(unsupported) {
                return Err(format!("`{unsupported}` is not understood"));
            }
        }
        routers.push((name, routes));
    }
    let mut all = BTreeSet::new();
    for (name, routes) in routers {
        let prefix = match &name {
            None => String::new(),
            Some(name) => nested
                .iter()
                .find(|(router, _)| router == name)
                .map(|(_, prefix)| prefix.clone())
                .ok_or_else(|| format!("router `{name}` is never nested"))?,
        };
        for (method, path) in routes {
            all.insert((method, format!("{prefix}{path}")));
        }
    }
    Ok(all)
}

/// The offset of the bracket closing the one `text` starts with.
fn matching(text: &str, open: char, close: char) -> Result<usize, String> {
    let mut depth = 0usize;
    for (at, c) in text.char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Ok(at);
            }
        }
    }
    Err(format!("unbalanced `{open}`"))
}

/// The methods of one `.route("path", get(..).post(..))` call's arguments.
fn route_call(args: &str) -> Result<Vec<MethodPath>, String> {
    let (path, handlers) = args.split_once(',').ok_or("odd .route(")?;
    let path = path.trim().trim_matches('"').to_owned();
    let mut found = Vec::new();
    for method in [
        "get", "put", "post", "delete", "options", "head", "patch", "trace", "any",
    ] {
        let needle = format!("{method}(");
        for (at, _) in handlers.match_indices(&needle) {
            let before = handlers[..at].chars().next_back();
            if before.is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                found.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    if found.is_empty() {
        return Err(format!("no method found for {path}"));
    }
    Ok(found)
}

#[test]
fn the_router_source_is_read_correctly() {
    let source = r#"
        pub fn router(state: AppState) -> Router {
            let v1 = Router::new()
                .route("/agents", post(agents::create).get(agents::list))
                .route("/agents/{id}", patch(agents::update).delete(agents::delete));
            Router::new()
                .route("/health", get(health::health))
                .nest("/v1", v1)
                .layer(DefaultBodyLimit::max(1))
                .with_state(state)
        }
    "#;
    let routes = router_routes(source).unwrap();
    let want: BTreeSet<MethodPath> = [
        ("POST", "/v1/agents"),
        ("GET", "/v1/agents"),
        ("PATCH", "/v1/agents/{id}"),
        ("DELETE", "/v1/agents/{id}"),
        ("GET", "/health"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(routes, want);
    assert!(router_routes(ROUTER_SOURCE).unwrap().len() >= want.len());
}

#[tokio::test]
async fn every_route_answers_every_caller_as_the_spec_requires() {
    let server = TestServer::start().await;

    // The route table, both ways.
    let doc = server
        .call(Method::GET, "/openapi.json", &Auth::None, None)
        .await
        .expect(200);
    let documented = documented(&doc);
    let served: BTreeSet<MethodPath> = documented
        .iter()
        .map(|(method, path, _)| (method.clone(), path.clone()))
        .chain(
            UNDOCUMENTED
                .iter()
                .map(|(method, path)| ((*method).to_owned(), (*path).to_owned())),
        )
        .collect();
    let table: BTreeSet<MethodPath> = ROUTES
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    let in_router = router_routes(ROUTER_SOURCE).unwrap_or_else(|e| {
        panic!("cannot read the routes of src/http/mod.rs ({e}); update auth_matrix::router_routes")
    });
    let mut problems = Vec::new();
    assert_eq!(table.len(), ROUTES.len(), "a route has two rows");
    for (method, path) in served.difference(&table) {
        problems.push(format!("{method} {path}: a route without a row in ROUTES"));
    }
    for (method, path) in table.difference(&served) {
        problems.push(format!(
            "{method} {path}: a row in ROUTES for a route neither in openapi.json nor UNDOCUMENTED"
        ));
    }
    for (method, path) in in_router.difference(&served) {
        problems.push(format!(
            "{method} {path}: in the router but neither in openapi.json nor UNDOCUMENTED"
        ));
    }
    for (method, path) in served.difference(&in_router) {
        problems.push(format!("{method} {path}: served but not in the router"));
    }
    for (method, path) in UNDOCUMENTED {
        if documented.iter().any(|(m, p, _)| m == method && p == path) {
            problems.push(format!(
                "{method} {path}: documented; drop it from UNDOCUMENTED"
            ));
        }
    }
    // The document's security declarations agree with the rows.
    for (method, path, schemes) in &documented {
        let Some(row) = ROUTES.iter().find(|r| r.method == method && r.path == path) else {
            continue;
        };
        let want: BTreeSet<String> = match row.access {
            Access::Public | Access::SessionEntry => BTreeSet::new(),
            Access::Human => ["session_cookie".to_owned()].into(),
            Access::Agent => ["agent_key".to_owned()].into(),
            Access::Both => ["agent_key".to_owned(), "session_cookie".to_owned()].into(),
        };
        if *schemes != want {
            problems.push(format!(
                "{method} {path}: openapi.json declares security {schemes:?}, the row says {:?}",
                row.access
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "the matrix does not cover the route table:\n{}",
        problems.join("\n")
    );

    // The cells.
    let world = World::build(&server).await;
    let mut mismatches = Vec::new();
    let mut cells = 0;
    for route in ROUTES {
        for caller in CALLERS {
            cells += 1;
            let target = world.make_target(route.target, cells).await;
            let mut path = route.path.to_owned();
            if let (Some(open), Some(close)) = (path.find('{'), path.find('}')) {
                assert!(
                    !target.is_empty(),
                    "{} has a parameter but no target",
                    route.path
                );
                path.replace_range(open..=close, &target);
            }
            let cell = Cell {
                n: cells,
                target: &target,
                email: &world.a_email,
            };
            let method = Method::from_bytes(route.method.as_bytes()).unwrap();
            let mut request = server
                .http
                .request(method, format!("{}{path}{}", server.url, route.query));
            if let Some(body) = route.body {
                request = request.json(&body(&cell));
            }
            let request = world
                .authorise(request, caller, route.target == Target::FreshSession)
                .await;
            let answer = server.raw(request).await;
            let want = expected(route, caller);
            if matches!(want, Expect::Error(..)) && answer.headers.contains_key("set-cookie") {
                mismatches.push(format!(
                    "{} {} × {}: a refused call set a cookie",
                    route.method,
                    route.path,
                    caller.label()
                ));
            }
            if !matches(&answer, &want) {
                mismatches.push(format!(
                    "{} {} × {}: expected {want}, got {} {}",
                    route.method,
                    route.path,
                    caller.label(),
                    answer.status.as_u16(),
                    answer.code()
                ));
            }
        }
    }
    assert_eq!(cells, ROUTES.len() * CALLERS.len());
    assert!(
        mismatches.is_empty(),
        "{} of {cells} route × caller cells disagree with SPEC:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn matches(answer: &Answer, want: &Expect) -> bool {
    match want {
        Expect::Status(status) => answer.status == StatusCode::from_u16(*status).unwrap(),
        Expect::Error(status, code) => {
            answer.status.as_u16() == *status
                && answer.code() == *code
                && answer.body["error"]["request_id"]
                    .as_str()
                    .is_some_and(|id| !id.is_empty())
        }
    }
}
