//! A real server on a free port, and a small HTTP client that speaks its API.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use availsync_server::{Clock, RunningServer, ServerConfig};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;

/// The in-process server with an adjustable clock.
pub struct TestServer {
    pub server: RunningServer,
    pub url: String,
    pub clock: Clock,
    pub http: reqwest::Client,
    _dir: TempDir,
}

/// An answer: status, headers and JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    /// `error.code` of an error answer.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status and answers the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected answer: {:#}",
            self.body
        );
        self.body
    }

    /// Asserts an error status and code.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "unexpected answer: {:#}",
            self.body
        );
        let request_id = self.body["error"]["request_id"].as_str().unwrap_or("");
        assert!(!request_id.is_empty(), "error without request_id");
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
}

/// How a request authenticates.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Cookie(String),
    Key(String),
}

static EMAILS: AtomicUsize = AtomicUsize::new(0);

/// A unique email for a test.
pub fn unique_email() -> String {
    format!("user{}@example.com", EMAILS.fetch_add(1, Ordering::Relaxed))
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(&crate::storage::Storage::for_test()).await
    }

    /// A server on the given storage.
    pub async fn start_with(storage: &crate::storage::Storage) -> Self {
        Self::start_configured(storage, |config| config).await
    }

    /// A server on the given storage, with `configure` applied to the test
    /// defaults.
    pub async fn start_configured(
        storage: &crate::storage::Storage,
        configure: impl FnOnce(ServerConfig) -> ServerConfig,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Clock::system();
        let config = configure(storage.apply(ServerConfig {
            clock: clock.clone(),
            ..ServerConfig::ephemeral(dir.path())
        }));
        let server = RunningServer::start(config).await.unwrap();
        let url = server.url();
        Self {
            server,
            url,
            clock,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            _dir: dir,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        request = match auth {
            Auth::None => request,
            Auth::Cookie(cookie) => request.header("cookie", cookie),
            Auth::Key(key) => request.bearer_auth(key),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Answer {
        read(request.send().await.unwrap()).await
    }

    /// Signs up a new workspace and answers its human.
    pub async fn signup(&self) -> Human<'_> {
        let email = unique_email();
        let answer = self
            .call(
                Method::POST,
                "/v1/auth/signup",
                &Auth::None,
                Some(json!({"email": email, "password": "correct horse battery", "workspace_name": "Acme"})),
            )
            .await;
        let cookie = session_cookie(&answer.headers).expect("signup sets a session cookie");
        let body = answer.expect(201);
        Human {
            server: self,
            auth: Auth::Cookie(cookie),
            email,
            workspace_id: body["workspace"]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// The server's data directory (the embedded store's, when it is used).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Changes a workspace's plan, as the operator would.
    pub async fn set_plan(&self, workspace_id: &str, plan: availsync_types::Plan) {
        self.server.set_plan(workspace_id, plan).await.unwrap();
    }
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| panic!("non-JSON answer: {}", String::from_utf8_lossy(&bytes)))
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// `availsync_session=…` from a Set-Cookie header.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("availsync_session="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

/// A signed-in human.
pub struct Human<'a> {
    pub server: &'a TestServer,
    pub auth: Auth,
    pub email: String,
    pub workspace_id: String,
}

impl<'a> Human<'a> {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        self.server.call(method, path, &self.auth, body).await
    }

    /// Creates an agent and answers it with its key.
    pub async fn agent(&self, name: &str) -> Agent<'a> {
        self.agent_with_mode(name, "enforce").await
    }

    pub async fn agent_with_mode(&self, name: &str, mode: &str) -> Agent<'a> {
        let body = self
            .call(
                Method::POST,
                "/v1/agents",
                Some(json!({"name": name, "mode": mode})),
            )
            .await
            .expect(201);
        Agent {
            server: self.server,
            id: body["agent"]["id"].as_str().unwrap().to_owned(),
            name: name.to_owned(),
            key: body["api_key"].as_str().unwrap().to_owned(),
        }
    }
}

/// An agent and its key.
#[derive(Clone)]
pub struct Agent<'a> {
    pub server: &'a TestServer,
    pub id: String,
    pub name: String,
    pub key: String,
}

impl Agent<'_> {
    pub fn auth(&self) -> Auth {
        Auth::Key(self.key.clone())
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        self.server
            .call(Method::POST, path, &self.auth(), Some(body))
            .await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.server
            .call(Method::GET, path, &self.auth(), None)
            .await
    }

    /// `run/start` with a body; asserts 200.
    pub async fn start(&self, body: Value) -> Value {
        self.post("/v1/work/run/start", body).await.expect(200)
    }

    /// `run/start` on a resource with defaults; asserts 200.
    pub async fn start_on(&self, resource: &str) -> Value {
        self.start(json!({"resource": resource})).await
    }

    pub async fn extend(&self, run_id: &str) -> Answer {
        self.post("/v1/work/run/extend", json!({"run_id": run_id}))
            .await
    }

    pub async fn finish(&self, run_id: &str, outcome: &str) -> Answer {
        self.post(
            "/v1/work/run/finish",
            json!({"run_id": run_id, "outcome": outcome}),
        )
        .await
    }
}

/// `run_id` of a start answer.
pub fn run_id(answer: &Value) -> String {
    answer["run_id"].as_str().unwrap().to_owned()
}
