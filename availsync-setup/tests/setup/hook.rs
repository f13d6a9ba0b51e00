//! `availsync-setup hook`, the edit hook: the real binary fed the events
//! clients document, against the real server, in temporary git
//! repositories with an `origin` remote.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};

use availsync_sdk::{Mode, RunsQuery};
use serde_json::{Value, json};

use crate::server::World;
use crate::support::{Home, text};

/// A home with a git repository `acme/web` (files `src/a.rs`, `src/b.rs`)
/// and a server with an enforcing agent.
pub struct Rig {
    pub world: World,
    pub home: Home,
    pub key: String,
    pub repo: PathBuf,
}

impl Rig {
    pub async fn new(email: &str) -> Self {
        let world = World::new(email).await;
        let key = world.key(Mode::Enforce).await;
        let home = Home::new();
        let repo = git_repo(&home.root().join("work/web"), "git@github.com:Acme/Web.git");
        Self {
            world,
            home,
            key,
            repo,
        }
    }

    pub fn state(&self) -> PathBuf {
        self.home.root().join("state")
    }

    /// The hook with this rig's server and key.
    pub fn hook(&self, args: &[&str], event: &Value) -> Hooked {
        self.hook_at(&self.world.server.url(), args, event)
    }

    /// The hook against `url`.
    pub fn hook_at(&self, url: &str, args: &[&str], event: &Value) -> Hooked {
        let mut all = vec!["hook"];
        all.extend_from_slice(args);
        let mut command = self.home.command(&all);
        command
            .env("AVAILSYNC_URL", url)
            .env("AVAILSYNC_API_KEY", &self.key)
            .env("XDG_STATE_HOME", self.state());
        run_with_stdin(command, &event.to_string())
    }

    pub fn file(&self, path: &str) -> PathBuf {
        self.repo.join(path)
    }

    /// The server's runs on `repo:acme/web` that hold a live claim: run id
    /// → paths.
    pub async fn held(&self) -> Vec<(String, Vec<String>)> {
        let query = RunsQuery {
            active_only: true,
            resource: Some("repo:acme/web".parse().unwrap()),
            limit: Some(50),
        };
        let page = self.world.admin.runs_page(&query, None).await.unwrap();
        let mut held: Vec<(String, Vec<String>)> = page
            .items
            .into_iter()
            .filter_map(|run| {
                let claim = run.claim?;
                let paths = claim.working_set.map(|s| s.paths).unwrap_or_default();
                Some((run.run_id, paths))
            })
            .collect();
        held.sort();
        held
    }
}

/// A git repository at `dir` whose `origin` is `url`, with two files.
pub fn git_repo(dir: &Path, url: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    git(dir, &["init", "-q"]);
    git(dir, &["remote", "add", "origin", url]);
    std::fs::write(dir.join("src/a.rs"), "fn a() {}\n").unwrap();
    std::fs::write(dir.join("src/b.rs"), "fn b() {}\n").unwrap();
    dir.canonicalize().unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// How a hook run ended.
#[derive(Debug)]
pub struct Hooked {
    pub output: Output,
}

impl Hooked {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Allowed: exit 0 and nothing on stdout (no decision: the client's
    /// own permission rules apply).
    #[track_caller]
    pub fn assert_allowed(&self) {
        assert_eq!(self.code(), Some(0), "{}", text(&self.output));
        assert_eq!(self.stdout(), "", "{}", text(&self.output));
    }

    /// Blocked the way Claude Code reads it: exit 2 with the reason on
    /// stderr, and the same reason in `hookSpecificOutput` on stdout.
    #[track_caller]
    pub fn assert_denied(&self) -> String {
        assert_eq!(self.code(), Some(2), "{}", text(&self.output));
        let json: Value = serde_json::from_str(self.stdout().trim())
            .unwrap_or_else(|e| panic!("{e}: {}", text(&self.output)));
        let out = &json["hookSpecificOutput"];
        assert_eq!(out["hookEventName"], "PreToolUse");
        assert_eq!(out["permissionDecision"], "deny");
        let reason = out["permissionDecisionReason"].as_str().unwrap().to_owned();
        assert!(self.stderr().contains(&reason), "{}", text(&self.output));
        reason
    }
}

pub fn run_with_stdin(mut command: Command, input: &str) -> Hooked {
    command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap();
    // A hook that exits before reading (a command line it rejects) closes
    // the pipe: that is its answer, not the test's failure.
    if let Err(e) = child.stdin.take().unwrap().write_all(input.as_bytes()) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    Hooked {
        output: child.wait_with_output().unwrap(),
    }
}

/// Claude Code's `PreToolUse` event for `tool` on `file`, as
/// code.claude.com/docs/en/hooks documents it.
pub fn pre_tool_use(session: &str, tool: &str, file: &Path) -> Value {
    let cwd = file.parent().unwrap();
    let input = match tool {
        "Write" => json!({"file_path": file, "content": "fn new() {}\n"}),
        "NotebookEdit" => json!({"notebook_path": file, "new_source": "x = 1", "cell_id": "c1"}),
        _ => {
            json!({"file_path": file, "old_string": "fn", "new_string": "pub fn", "replace_all": false})
        }
    };
    json!({
        "session_id": session,
        "prompt_id": "550e8400-e29b-41d4-a716-446655440000",
        "transcript_path": format!("/home/user/.claude/projects/p/{session}.jsonl"),
        "cwd": cwd,
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": tool,
        "tool_input": input,
        "tool_use_id": "toolu_01ABC123"
    })
}

/// Claude Code's `SessionEnd` event.
pub fn session_end(session: &str) -> Value {
    json!({
        "session_id": session,
        "transcript_path": format!("/home/user/.claude/projects/p/{session}.jsonl"),
        "cwd": "/home/user/p",
        "hook_event_name": "SessionEnd",
        "reason": "prompt_input_exit"
    })
}

const S1: &str = "2f0c7a52-7d4e-4c1f-9d0a-5b1e3c8f1a01";
const S2: &str = "9b4e1d33-0a6f-4e2b-8c7d-1f2e3d4c5b02";

#[tokio::test(flavor = "multi_thread")]
async fn a_second_session_is_blocked_from_the_file_the_first_edits_but_not_from_others() {
    let rig = Rig::new("hook-two@example.com").await;
    let (a, b) = (rig.file("src/a.rs"), rig.file("src/b.rs"));

    rig.hook(&[], &pre_tool_use(S1, "Edit", &a))
        .assert_allowed();
    assert_eq!(
        rig.held().await,
        [(format!("claude-{S1}"), vec!["src/a.rs".to_owned()])]
    );

    let blocked = rig.hook(&[], &pre_tool_use(S2, "Edit", &a));
    let reason = blocked.assert_denied();
    assert!(reason.contains("src/a.rs"), "{reason}");
    assert!(reason.contains("agent 'setup-test'"), "{reason}");
    assert!(reason.contains(&format!("run claude-{S1}")), "{reason}");
    assert!(reason.contains(" until 20"), "{reason}");

    rig.hook(&[], &pre_tool_use(S2, "Write", &b))
        .assert_allowed();
    // The first session edits its file again, and another one: one run,
    // growing.
    rig.hook(&[], &pre_tool_use(S1, "Edit", &a))
        .assert_allowed();
    let notebook = rig.file("notes/n.ipynb");
    rig.hook(&[], &pre_tool_use(S1, "NotebookEdit", &notebook))
        .assert_allowed();
    assert_eq!(
        rig.held().await,
        [
            (
                format!("claude-{S1}"),
                vec!["src/a.rs".to_owned(), "notes/n.ipynb".to_owned()]
            ),
            (format!("claude-{S2}"), vec!["src/b.rs".to_owned()]),
        ]
    );
    // And the second session may not take the first one's notebook either.
    rig.hook(&[], &pre_tool_use(S2, "NotebookEdit", &notebook))
        .assert_denied();

    // SessionEnd releases: the second session may now edit src/a.rs.
    rig.hook(&[], &session_end(S1)).assert_allowed();
    assert_eq!(
        rig.held().await,
        [(format!("claude-{S2}"), vec!["src/b.rs".to_owned()])]
    );
    rig.hook(&[], &pre_tool_use(S2, "Edit", &a))
        .assert_allowed();
    assert_eq!(
        rig.held().await,
        [(
            format!("claude-{S2}"),
            vec!["src/b.rs".to_owned(), "src/a.rs".to_owned()]
        )]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_edit_renews_the_lease_for_the_configured_ttl() {
    let rig = Rig::new("hook-ttl@example.com").await;
    rig.hook(
        &["--ttl", "20m"],
        &pre_tool_use(S1, "Edit", &rig.file("src/a.rs")),
    )
    .assert_allowed();
    let query = RunsQuery {
        active_only: true,
        ..RunsQuery::default()
    };
    let first = rig.world.admin.runs_page(&query, None).await.unwrap().items[0]
        .claim
        .clone()
        .unwrap();
    assert_eq!(first.ttl_seconds, 1200);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    rig.hook(
        &["--ttl", "20m"],
        &pre_tool_use(S1, "Edit", &rig.file("src/a.rs")),
    )
    .assert_allowed();
    let second = rig.world.admin.runs_page(&query, None).await.unwrap().items[0]
        .claim
        .clone()
        .unwrap();
    assert!(second.expires_at > first.expires_at, "{first:?} {second:?}");
    assert_eq!(second.fencing_token, first.fencing_token);
}

/// A port nothing listens on.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_server_down_edits_stop_unless_the_hook_fails_open() {
    let rig = Rig::new("hook-down@example.com").await;
    let down = closed_port_url();
    let event = pre_tool_use(S1, "Edit", &rig.file("src/a.rs"));

    let reason = rig.hook_at(&down, &[], &event).assert_denied();
    assert!(
        reason.starts_with("STOP: Availsync could not be reached"),
        "{reason}"
    );
    assert!(reason.contains("--fail-open"), "{reason}");

    let open = rig.hook_at(&down, &["--fail-open"], &event);
    open.assert_allowed();
    assert!(open.stderr().contains("uncoordinated"), "{}", open.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn files_outside_repositories_and_other_events_pass_untouched() {
    let rig = Rig::new("hook-pass@example.com").await;
    // None of these needs the server: it is down.
    let down = closed_port_url();
    let loose = rig.home.root().join("notes.txt");
    let no_origin = rig.home.root().join("local");
    std::fs::create_dir_all(&no_origin).unwrap();
    git(&no_origin, &["init", "-q"]);
    let local_origin = rig.home.root().join("mirror");
    git_repo(&local_origin, "/srv/git/mirror.git");
    for event in [
        pre_tool_use(S1, "Write", &loose),
        pre_tool_use(S1, "Edit", &no_origin.join("a.rs")),
        pre_tool_use(S1, "Edit", &local_origin.join("src/a.rs")),
        pre_tool_use(S1, "Edit", &rig.repo.join(".git/config")),
        json!({"session_id": S1, "hook_event_name": "PreToolUse", "tool_name": "Bash",
               "tool_input": {"command": "rm -rf src"}}),
        // VS Code's Copilot runs the hooks of ~/.claude/settings.json for
        // every tool, with camelCase events.
        json!({"sessionId": S1, "hookEventName": "PreToolUse", "tool_name": "replace_string_in_file",
               "tool_input": {"filePath": rig.file("src/a.rs")}}),
        json!({"session_id": S1, "hook_event_name": "UserPromptSubmit", "prompt": "hi"}),
    ] {
        rig.hook_at(&down, &[], &event).assert_allowed();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_the_hook_cannot_read_blocks_with_the_reason() {
    let rig = Rig::new("hook-broken@example.com").await;
    let not_json = run_with_stdin(
        {
            let mut c = rig.home.command(&["hook"]);
            c.env("XDG_STATE_HOME", rig.state());
            c
        },
        "{\"session_id\": ",
    );
    assert_eq!(not_json.code(), Some(2), "{}", text(&not_json.output));
    assert!(
        not_json.stderr().contains("not JSON"),
        "{}",
        not_json.stderr()
    );

    let no_path = json!({"session_id": S1, "hook_event_name": "PreToolUse", "tool_name": "Edit",
                         "tool_input": {"old_string": "a"}});
    let reason = rig.hook(&[], &no_path).assert_denied();
    assert!(reason.contains("file_path"), "{reason}");

    // No key anywhere: blocked, saying how to fix it, also failing open.
    let mut command = rig.home.command(&["hook", "--fail-open"]);
    command
        .env("AVAILSYNC_URL", rig.world.server.url())
        .env("XDG_STATE_HOME", rig.state());
    let keyless = run_with_stdin(
        command,
        &pre_tool_use(S1, "Edit", &rig.file("src/a.rs")).to_string(),
    );
    assert_eq!(keyless.code(), Some(2), "{}", text(&keyless.output));
    assert!(
        keyless.stderr().contains("availsync-setup login"),
        "{}",
        keyless.stderr()
    );

    // A command line this version does not know (a newer install's).
    let newer = rig.hook(
        &["--client", "claude-code", "--frobnicate"],
        &pre_tool_use(S1, "Edit", &rig.file("src/a.rs")),
    );
    assert_eq!(newer.code(), Some(2), "{}", text(&newer.output));
}

#[tokio::test(flavor = "multi_thread")]
async fn gemini_cli_sessions_share_a_repository_by_file() {
    let rig = Rig::new("hook-gemini@example.com").await;
    let before_tool = |session: &str, tool: &str, file: &str| {
        json!({
            "session_id": session,
            "transcript_path": "/tmp/t.json",
            "cwd": rig.repo,
            "hook_event_name": "BeforeTool",
            "timestamp": "2026-12-07T10:00:00.000Z",
            "tool_name": tool,
            "tool_input": {"file_path": file, "content": "x"},
        })
    };
    let gemini = ["--client", "gemini"];
    let first = rig.hook(&gemini, &before_tool("g-1", "write_file", "src/a.rs"));
    first.assert_allowed();
    let second = rig.hook(&gemini, &before_tool("g-2", "replace", "src/a.rs"));
    assert_eq!(second.code(), Some(2), "{}", text(&second.output));
    let json: Value = serde_json::from_str(second.stdout().trim()).unwrap();
    assert_eq!(json["decision"], "deny");
    assert!(
        json["reason"].as_str().unwrap().contains("run gemini-g-1"),
        "{json}"
    );
    rig.hook(&gemini, &before_tool("g-2", "replace", "src/b.rs"))
        .assert_allowed();
    rig.hook(&gemini, &before_tool("g-2", "read_file", "src/a.rs"))
        .assert_allowed();
    let end = json!({"session_id": "g-1", "hook_event_name": "SessionEnd", "reason": "exit",
                     "cwd": rig.repo, "timestamp": "2026-12-07T10:05:00.000Z"});
    rig.hook(&gemini, &end).assert_allowed();
    rig.hook(&gemini, &before_tool("g-2", "replace", "src/a.rs"))
        .assert_allowed();
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_patches_claim_every_file_they_touch() {
    let rig = Rig::new("hook-codex@example.com").await;
    let apply_patch = |session: &str, patch: &str| {
        json!({
            "session_id": session, "turn_id": "turn-1", "cwd": rig.repo,
            "transcript_path": null, "model": "gpt-5", "permission_mode": "default",
            "hook_event_name": "PreToolUse", "tool_name": "apply_patch",
            "tool_input": {"command": patch}, "tool_use_id": "call_1"
        })
    };
    let codex = ["--client", "codex"];
    rig.hook(
        &codex,
        &apply_patch(
            "thread-1",
            "*** Begin Patch\n*** Update File: src/a.rs\n@@\n-fn a() {}\n+pub fn a() {}\n*** Add File: src/c.rs\n+fn c() {}\n*** End Patch\n",
        ),
    )
    .assert_allowed();
    assert_eq!(
        rig.held().await,
        [(
            "codex-thread-1".to_owned(),
            vec!["src/a.rs".to_owned(), "src/c.rs".to_owned()]
        )]
    );
    let reason = rig
        .hook(
            &codex,
            &apply_patch(
                "thread-2",
                "*** Begin Patch\n*** Update File: src/b.rs\n@@\n-b\n+B\n*** Delete File: src/c.rs\n*** End Patch\n",
            ),
        )
        .assert_denied();
    assert!(reason.contains("src/c.rs is held"), "{reason}");
    assert!(reason.contains("run codex-thread-1"), "{reason}");
}

/// The real `availsync-mcp`, next to this binary: `cargo test --workspace`
/// (or `cargo build -p availsync-mcp`) builds it there.
fn mcp_binary() -> PathBuf {
    let setup = Path::new(env!("CARGO_BIN_EXE_availsync-setup"));
    let mcp = setup.with_file_name(format!("availsync-mcp{}", std::env::consts::EXE_SUFFIX));
    assert!(
        mcp.exists(),
        "{} is missing: build it with `cargo build -p availsync-mcp` (cargo test --workspace does)",
        mcp.display()
    );
    mcp
}

/// `availsync-mcp` spoken to over stdio as an MCP client does, with one
/// JSON-RPC message per line.
struct Mcp {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    next_id: u64,
}

impl Mcp {
    /// Starts the server as Claude Code would for session `session`. With
    /// `own_parent`, it runs under a shell of its own: its parent is then
    /// no ancestor of the hooks this test starts, as for two different
    /// Claude Code processes.
    fn start(rig: &Rig, session: &str, own_parent: bool) -> Self {
        let mut command = if own_parent {
            let mut sh = Command::new("/bin/sh");
            // Not `exec`: the shell stays the server's parent.
            sh.args(["-c", "\"$0\"; exit $?"]).arg(mcp_binary());
            sh
        } else {
            Command::new(mcp_binary())
        };
        command
            .env_clear()
            .env("HOME", rig.home.home())
            .env("XDG_STATE_HOME", rig.state())
            .env("AVAILSYNC_URL", rig.world.server.url())
            .env("AVAILSYNC_API_KEY", &rig.key)
            .env(
                "AVAILSYNC_CREDENTIALS_FILE",
                rig.home.root().join("none.toml"),
            )
            .env("CLAUDE_CODE_SESSION_ID", session)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command.spawn().unwrap();
        let mut mcp = Self {
            stdin: child.stdin.take(),
            stdout: BufReader::new(child.stdout.take().unwrap()),
            child,
            next_id: 1,
        };
        mcp.request(
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "hook-tests", "version": "0"}}),
        );
        mcp.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    fn send(&mut self, message: &Value) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{message}").unwrap();
        stdin.flush().unwrap();
    }

    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            assert!(
                self.stdout.read_line(&mut line).unwrap() > 0,
                "the server closed its stdout"
            );
            let message: Value = serde_json::from_str(&line).unwrap();
            if message["id"] == id {
                return message["result"].clone();
            }
        }
    }

    /// Calls a tool; answers its structured content.
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let result = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        result["structuredContent"].clone()
    }

    /// Closes stdin, as a client does when it quits, and waits.
    fn quit(mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sessions_mcp_claim_and_its_hook_are_one_holder_and_others_are_blocked() {
    let rig = Rig::new("hook-mcp@example.com").await;
    let mut mcp = Mcp::start(&rig, S1, true);
    let started = mcp.call("start_run", json!({"resource": "repo:acme/web"}));
    assert_eq!(started["action"], "proceed", "{started}");
    let run_id = started["run_id"].as_str().unwrap().to_owned();
    assert!(run_id.starts_with(&format!("claude-{S1}.")), "{run_id}");

    // The session's own edits go through its MCP claim of the whole repo:
    // nothing is claimed twice.
    rig.hook(&[], &pre_tool_use(S1, "Edit", &rig.file("src/a.rs")))
        .assert_allowed();
    rig.hook(&[], &pre_tool_use(S1, "Write", &rig.file("src/new.rs")))
        .assert_allowed();
    assert_eq!(rig.held().await, [(run_id.clone(), Vec::new())]);

    // Another session is blocked, told whose claim it is.
    let reason = rig
        .hook(&[], &pre_tool_use(S2, "Edit", &rig.file("src/b.rs")))
        .assert_denied();
    assert!(reason.contains(&format!("run {run_id}")), "{reason}");
    assert!(reason.contains("whole repository"), "{reason}");

    // Once the session's MCP run is finished, its hook claims by file,
    // under the session's own run id (its earlier edits were checks, which
    // spend no id).
    let finished = mcp.call(
        "finish_run",
        json!({"run_id": run_id, "outcome": "succeeded"}),
    );
    assert_eq!(finished["released"], true, "{finished}");
    rig.hook(&[], &pre_tool_use(S1, "Edit", &rig.file("src/a.rs")))
        .assert_allowed();
    assert_eq!(
        rig.held().await,
        [(format!("claude-{S1}"), vec!["src/a.rs".to_owned()])]
    );
    rig.hook(&[], &pre_tool_use(S2, "Edit", &rig.file("src/a.rs")))
        .assert_denied();
    rig.hook(&[], &pre_tool_use(S2, "Edit", &rig.file("src/b.rs")))
        .assert_allowed();
    mcp.quit();
}

/// The contract's case, with the MCP server's run started through the SDK
/// as it starts it: run id `claude-<sid>.1`, here with a working set.
#[tokio::test(flavor = "multi_thread")]
async fn a_run_named_after_the_session_is_the_sessions_own_claim() {
    let rig = Rig::new("hook-named@example.com").await;
    let client = availsync_sdk::ClientBuilder::new()
        .base_url(rig.world.server.url())
        .api_key(rig.key.clone())
        .build()
        .unwrap();
    let mcp_run = format!("claude-{S1}.1");
    let start = availsync_sdk::StartRun::new("repo:acme/web")
        .unwrap()
        .run_id(&mcp_run)
        .working_set(["src/**"], availsync_sdk::WorkingSetMode::Edit)
        .unwrap();
    let started = client.start_run(&start).await.unwrap();
    assert!(started.decision.proceeds(), "{started:?}");

    // The session edits under its MCP claim: allowed, nothing claimed twice.
    rig.hook(&[], &pre_tool_use(S1, "Edit", &rig.file("src/a.rs")))
        .assert_allowed();
    assert_eq!(
        rig.held().await,
        [(mcp_run.clone(), vec!["src/**".to_owned()])]
    );
    // A file outside it is claimed by the session's hook run.
    std::fs::write(rig.file("README.md"), "# web\n").unwrap();
    rig.hook(&[], &pre_tool_use(S1, "Write", &rig.file("README.md")))
        .assert_allowed();
    assert_eq!(
        rig.held().await,
        [
            (format!("claude-{S1}"), vec!["README.md".to_owned()]),
            (mcp_run.clone(), vec!["src/**".to_owned()]),
        ]
    );
    // Another session: blocked by the MCP run, named.
    let reason = rig
        .hook(&[], &pre_tool_use(S2, "Edit", &rig.file("src/b.rs")))
        .assert_denied();
    assert!(reason.contains(&format!("run {mcp_run}")), "{reason}");
    assert!(reason.contains("src/**"), "{reason}");
}

#[tokio::test(flavor = "multi_thread")]
async fn after_clear_the_new_session_id_still_owns_the_mcp_servers_claims() {
    let rig = Rig::new("hook-clear@example.com").await;
    // Started by this test process, as Claude Code starts it: the hooks
    // this test starts are its siblings, as Claude Code's are.
    let mut mcp = Mcp::start(&rig, S1, false);
    let links = rig.state().join("availsync/sessions");
    let files: Vec<PathBuf> = std::fs::read_dir(&links)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let link: Value = serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    assert_eq!(link["session_runs"], json!([format!("claude-{S1}")]));

    let started = mcp.call("start_run", json!({"resource": "repo:acme/web"}));
    assert_eq!(started["action"], "proceed", "{started}");
    // `/clear`: the hook's session id changes, the server's does not.
    let after_clear = "0d5e2c11-3b4a-4f6e-8a9b-7c6d5e4f3a03";
    rig.hook(
        &[],
        &pre_tool_use(after_clear, "Edit", &rig.file("src/a.rs")),
    )
    .assert_allowed();

    mcp.quit();
    assert_eq!(std::fs::read_dir(&links).unwrap().count(), 0);
    // The server finished its run on the way out; the new session's hook
    // now claims by file.
    rig.hook(
        &[],
        &pre_tool_use(after_clear, "Edit", &rig.file("src/a.rs")),
    )
    .assert_allowed();
    assert_eq!(
        rig.held().await,
        [(format!("claude-{after_clear}"), vec!["src/a.rs".to_owned()])]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_install_writes_is_the_hook() {
    let rig = Rig::new("hook-installed@example.com").await;
    let url = rig.world.server.url();
    let out = rig.home.run(&[
        "install",
        "--yes",
        "--client",
        "claude-code",
        "--hooks",
        "--url",
        &url,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let settings: Value = serde_json::from_str(
        &std::fs::read_to_string(rig.home.home().join(".claude/settings.json")).unwrap(),
    )
    .unwrap();
    let group = &settings["hooks"]["PreToolUse"][0];
    let command = group["hooks"][0]["command"].as_str().unwrap().to_owned();
    // Claude Code runs a command hook through a shell, with its own
    // environment (the key is the stored one, or this variable).
    let installed = |event: &Value| {
        let mut sh = Command::new("/bin/sh");
        sh.args(["-c", &command])
            .env_clear()
            .env("HOME", rig.home.home())
            .env("XDG_STATE_HOME", rig.state())
            .env("AVAILSYNC_API_KEY", &rig.key);
        run_with_stdin(sh, &event.to_string())
    };
    installed(&pre_tool_use(S1, "Edit", &rig.file("src/a.rs"))).assert_allowed();
    let reason = installed(&pre_tool_use(S2, "Edit", &rig.file("src/a.rs"))).assert_denied();
    assert!(reason.contains(&format!("run claude-{S1}")), "{reason}");
    let end = settings["hooks"]["SessionEnd"][0]["hooks"][0]["command"]
        .as_str()
        .unwrap();
    assert_eq!(end, command);
    installed(&session_end(S1)).assert_allowed();
    installed(&pre_tool_use(S2, "Edit", &rig.file("src/a.rs"))).assert_allowed();
}
