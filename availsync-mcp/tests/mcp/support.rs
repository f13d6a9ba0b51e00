//! A real Availsync server in this process, and `availsync-mcp` children
//! driven by rmcp's client over their stdin and stdout.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use availsync_sdk::{AdminClient, Mode};
use availsync_server::{RunningServer, ServerConfig};
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::RunningService;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};

pub const BINARY: &str = env!("CARGO_BIN_EXE_availsync-mcp");

static N: AtomicUsize = AtomicUsize::new(0);

/// A server with a signed-up workspace.
pub struct World {
    pub server: RunningServer,
    pub admin: AdminClient,
    pub workspace_id: String,
    _dir: TempDir,
}

impl World {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let server = RunningServer::start(ServerConfig::ephemeral(dir.path()))
            .await
            .unwrap();
        let admin = AdminClient::new(&server.url()).unwrap();
        let email = format!(
            "mcp{}-{}@example.com",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let auth = admin
            .signup(&email, "correct horse battery", "MCP tests")
            .await
            .unwrap();
        Self {
            server,
            admin,
            workspace_id: auth.workspace.id,
            _dir: dir,
        }
    }

    /// A world on the team plan: more live claims than the free plan's
    /// three.
    pub async fn team() -> Self {
        let world = Self::new().await;
        world
            .server
            .set_plan(&world.workspace_id, availsync_sdk::types::Plan::Team)
            .await
            .unwrap();
        world
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// A new enforcing agent's API key.
    pub async fn agent(&self, name: &str) -> String {
        self.admin
            .create_agent(name, Some(Mode::Enforce))
            .await
            .unwrap()
            .api_key
    }

    /// A new observe-mode agent's API key.
    pub async fn observer(&self, name: &str) -> String {
        self.admin
            .create_agent(name, Some(Mode::Observe))
            .await
            .unwrap()
            .api_key
    }
}

/// How to launch `availsync-mcp`: a clean environment (no inherited
/// `AVAILSYNC_*`, a private home, no credentials file unless one is given).
pub struct Launch {
    pub command: Command,
    pub key: Option<String>,
    pub home: TempDir,
}

impl Launch {
    pub fn new() -> Self {
        let home = tempfile::tempdir().unwrap();
        let mut command = Command::new(BINARY);
        command
            .env_clear()
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env(
                "AVAILSYNC_CREDENTIALS_FILE",
                home.path().join("no-credentials.toml"),
            )
            .env("RUST_LOG", "availsync_mcp=debug,rmcp=info,warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Self {
            command,
            key: None,
            home,
        }
    }

    /// With `AVAILSYNC_URL` and `AVAILSYNC_API_KEY`.
    pub fn agent(url: &str, key: &str) -> Self {
        Self::new().url(url).key(key)
    }

    pub fn url(mut self, url: &str) -> Self {
        self.command.env("AVAILSYNC_URL", url);
        self
    }

    pub fn key(mut self, key: &str) -> Self {
        self.command.env("AVAILSYNC_API_KEY", key);
        self.key = Some(key.to_owned());
        self
    }

    pub fn arg(mut self, arg: &str) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn credentials_path(&self) -> PathBuf {
        self.home.path().join("credentials.toml")
    }

    /// Uses the credentials file at [`Launch::credentials_path`].
    pub fn with_credentials_file(mut self) -> Self {
        let path = self.credentials_path();
        self.command.env("AVAILSYNC_CREDENTIALS_FILE", path);
        self
    }

    /// Spawns the process and initialises an MCP session with it.
    pub async fn start(mut self) -> Mcp {
        let mut child = self.command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take().unwrap();
        let stderr = collect(child.stderr.take().unwrap());
        let client = tokio::time::timeout(Duration::from_secs(10), ().serve((stdout, stdin)))
            .await
            .expect("initialize within 10 s")
            .expect("initialize");
        Mcp {
            client,
            child,
            stderr,
            key: self.key,
            _home: self.home,
        }
    }

    /// Runs the process to completion without a session (stdin closed at
    /// once).
    pub async fn run_to_exit(mut self) -> Exited {
        self.command.stdin(Stdio::null());
        let child = self.command.spawn().unwrap();
        let output = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
            .await
            .expect("exits within 10 s")
            .unwrap();
        Exited {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

/// Reads a child's stderr into a shared string as it comes.
fn collect(mut stderr: tokio::process::ChildStderr) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// How a process ended.
#[derive(Debug)]
pub struct Exited {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// One tool call's answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The whole text: news lines (a lost lease), then the answer's line.
    pub text: String,
    /// The structured content of a success (`Null` for an error, which
    /// carries none).
    pub structured: Value,
    pub is_error: bool,
    /// An error's `_meta["availsync/error"]`: `{code, message, retryable}`.
    pub error: Value,
}

impl Answer {
    fn of(result: CallToolResult) -> Self {
        let texts: Vec<String> = result
            .content
            .iter()
            .filter_map(|c| match c {
                ContentBlock::Text(t) => Some(t.text.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(texts.len(), 1, "exactly one text content: {result:?}");
        let is_error = result.is_error.unwrap_or(false);
        let error = result
            .meta
            .as_ref()
            .and_then(|meta| meta.0.get("availsync/error").cloned())
            .unwrap_or(Value::Null);
        let structured = if is_error {
            // Clients validate structured content against the output
            // schema, which describes a success.
            assert_eq!(result.structured_content, None, "an error carries none");
            assert!(
                error["code"].is_string(),
                "an error names its code: {result:?}"
            );
            Value::Null
        } else {
            result
                .structured_content
                .unwrap_or_else(|| panic!("structured content: {:?}", result.content))
        };
        Self {
            text: texts[0].clone(),
            structured,
            is_error,
            error,
        }
    }

    /// The answer's own line (the last; news lines come before it).
    pub fn line(&self) -> &str {
        self.text.lines().last().unwrap_or_default()
    }

    /// News lines before the answer's own line.
    pub fn news(&self) -> Vec<&str> {
        let lines: Vec<&str> = self.text.lines().collect();
        lines[..lines.len().saturating_sub(1)].to_vec()
    }

    /// The first word(s) before the colon: PROCEED, SKIP, STOP, …
    pub fn verdict(&self) -> &str {
        self.line().split(':').next().unwrap_or_default()
    }

    pub fn str(&self, pointer: &str) -> String {
        self.structured
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{pointer} in {}", self.structured))
            .to_owned()
    }
}

/// A running `availsync-mcp` and the rmcp client session with it.
pub struct Mcp {
    pub client: RunningService<RoleClient, ()>,
    child: Child,
    stderr: Arc<Mutex<String>>,
    key: Option<String>,
    _home: TempDir,
}

impl Mcp {
    pub async fn call(&self, tool: &str, arguments: Value) -> Answer {
        call(&self.client, tool, arguments).await
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Closes the session (and with it the child's stdin) and waits for
    /// the child to exit. Asserts the key never reached stderr.
    pub async fn close(mut self) -> (ExitStatus, Duration, String) {
        let started = Instant::now();
        let _ = self.client.close().await;
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exits within 10 s of stdin closing")
            .unwrap();
        let elapsed = started.elapsed();
        (status, elapsed, self.finish_stderr().await)
    }

    /// Waits for the child to exit on its own (e.g. after a signal).
    pub async fn wait_exit(mut self) -> (ExitStatus, String) {
        let status = tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("exits within 10 s")
            .unwrap();
        (status, self.finish_stderr().await)
    }

    async fn finish_stderr(&self) -> String {
        // Give the reader a moment to drain the closed pipe.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let stderr = self.stderr();
        if let Some(key) = &self.key {
            assert!(!stderr.contains(key.as_str()), "the key leaked to stderr");
        }
        stderr
    }
}

/// Calls `tool` through `client`, within 30 s.
pub async fn call(client: &RunningService<RoleClient, ()>, tool: &str, arguments: Value) -> Answer {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object");
    };
    let result = tokio::time::timeout(
        Duration::from_secs(30),
        client.call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments)),
    )
    .await
    .expect("tool answers within 30 s")
    .expect("tools/call");
    Answer::of(result)
}

/// Polls `check` every 50 ms until it is true or `within` passes; answers
/// how long it took.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while started.elapsed() < within {
        if check().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// A URL where nothing listens.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
