//! `availsync-setup hook`: the command an agent client runs before each
//! file edit (installed by `install --hooks`). It reads the client's event
//! on stdin, maps each file to its repository and path, and claims the
//! paths for the session; when another agent holds one, it blocks the
//! edit and says who holds it and until when. At the session's end it
//! finishes the session's runs.
//!
//! Every way out is deliberate. A client treats a crash, or any exit other
//! than 0 and 2, as "go ahead" — so a panic, a bad event, a missing key or
//! a broken state file all block (exit 2, with the reason), and an
//! unreachable server blocks with a STOP unless `--fail-open` was chosen.
//! Events the hook does not handle (other tools, other clients' events in
//! a shared settings file) pass silently.

mod answer;
mod claim;
mod event;
mod patch;
mod repo;
mod session;
mod state;

use std::collections::BTreeMap;
use std::io::Read;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::Duration;

use availsync_sdk::types::{MAX_TTL_SECONDS, MIN_TTL_SECONDS};
use availsync_sdk::{Client, ClientBuilder, Error, Outcome, ResourceKey, RetryPolicy};

use self::claim::{Claimer, Verdict};
use self::event::{Edit, Event};
use self::repo::Location;
use self::session::Session;
use self::state::Locked;
use crate::paths::BaseDirs;

pub use self::answer::BLOCK;

/// The clients whose edit hooks this command understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum HookClient {
    /// Claude Code: `PreToolUse` on Edit, Write, MultiEdit, NotebookEdit;
    /// `SessionEnd`.
    ClaudeCode,
    /// Gemini CLI: `BeforeTool` on write_file and replace; `SessionEnd`.
    Gemini,
    /// OpenAI Codex CLI: `PreToolUse` on apply_patch.
    Codex,
}

impl HookClient {
    /// The id on the command line (the same as `install --client`'s).
    pub fn id(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude-code",
            Self::Gemini => "gemini",
            Self::Codex => "codex",
        }
    }

    /// The product's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ClaudeCode => "Claude Code",
            Self::Gemini => "Gemini CLI",
            Self::Codex => "Codex CLI",
        }
    }

    /// The prefix of the session's run ids (`claude-<session id>`).
    pub fn run_prefix(self) -> &'static str {
        match self {
            Self::ClaudeCode => availsync_sdk::types::CLAUDE_CLIENT,
            Self::Gemini => "gemini",
            Self::Codex => "codex",
        }
    }
}

/// The default lease of a session's claims.
pub const DEFAULT_TTL: &str = "15m";

/// Arguments of `hook`.
#[derive(Debug, Clone, clap::Args)]
pub struct HookArgs {
    /// The client whose event arrives on stdin.
    #[arg(long, value_enum, default_value_t = HookClient::ClaudeCode)]
    pub client: HookClient,
    /// Let edits through when the Availsync server cannot be reached
    /// (default: block them with a STOP).
    #[arg(long)]
    pub fail_open: bool,
    /// Lease of the session's claims, renewed at every edit (10s to 1h).
    #[arg(long, default_value = DEFAULT_TTL, value_parser = parse_ttl)]
    pub ttl: Duration,
    /// The server URL [default: $AVAILSYNC_URL, the stored one, or http://127.0.0.1:8787].
    #[arg(long)]
    pub url: Option<String>,
}

/// A lease length the server accepts.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let ttl = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    let range = u64::from(MIN_TTL_SECONDS)..=u64::from(MAX_TTL_SECONDS);
    if range.contains(&ttl.as_secs()) && ttl.subsec_nanos() == 0 {
        Ok(ttl)
    } else {
        Err(format!(
            "a lease is {MIN_TTL_SECONDS}s to {MAX_TTL_SECONDS}s in whole seconds"
        ))
    }
}

/// Longest wait for one answer while an edit waits.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest wait for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest `SessionEnd` takes: Claude Code gives all its `SessionEnd`
/// hooks 1.5 s together.
const SESSION_END_BUDGET: Duration = Duration::from_millis(1200);
/// State files of sessions that ended without a `SessionEnd` are deleted
/// after this long.
const STATE_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Runs the hook; answers the exit code. Nothing escapes: a panic becomes
/// a block.
pub fn run(args: HookArgs) -> u8 {
    let client = args.client;
    match std::panic::catch_unwind(AssertUnwindSafe(|| handle(&args))) {
        Ok(code) => code,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            answer::deny(
                client,
                &format!(
                    "Availsync's edit hook failed ({what}), so this edit is blocked: the hook cannot tell whether another agent is working on the file. Tell the user; it is a bug in availsync-setup."
                ),
            )
        }
    }
}

/// Why the hook could not decide.
#[derive(Debug, thiserror::Error)]
enum HookError {
    #[error("cannot read the event on stdin: {0}")]
    Stdin(std::io::Error),
    #[error(transparent)]
    Event(#[from] event::EventError),
    #[error(transparent)]
    Repo(#[from] repo::RepoError),
    #[error("{0}")]
    Config(String),
    #[error(transparent)]
    State(#[from] state::StateError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Server(#[from] Error),
}

fn handle(args: &HookArgs) -> u8 {
    let mut input = String::new();
    let parsed = std::io::stdin()
        .lock()
        .read_to_string(&mut input)
        .map_err(HookError::Stdin)
        .and_then(|_| Ok(event::parse(args.client, &input)?));
    match parsed {
        Ok(Event::Other) => answer::ALLOW,
        Ok(Event::SessionEnd { session_id }) => session_end(args, &session_id),
        Ok(Event::Edit(edit)) => match before_edit(args, &edit) {
            Ok(code) => code,
            Err(e) => failed(args, &e, &describe(&edit.files)),
        },
        Err(e) => failed(args, &e, "this file"),
    }
}

/// Decides an edit.
fn before_edit(args: &HookArgs, edit: &Edit) -> Result<u8, HookError> {
    let mut repos: BTreeMap<ResourceKey, Vec<String>> = BTreeMap::new();
    for file in &edit.files {
        if let Location::Repo(found) = repo::locate(file)? {
            let paths = repos.entry(found.resource).or_default();
            let pattern = found.pattern.as_str().to_owned();
            if !paths.contains(&pattern) {
                paths.push(pattern);
            }
        }
    }
    if repos.is_empty() {
        return Ok(answer::ALLOW);
    }
    let state_dir = state_dir()?;
    let session = Session::new(args.client, &edit.session_id, &state_dir)
        .ok_or_else(|| HookError::Config("the event's session_id is blank".to_owned()))?;
    let client = connect(
        args,
        CALL_TIMEOUT,
        RetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
        },
    )?;
    let locked = Locked::open(&state_dir.join("hook"), &session.base)?;
    let mut state = locked.read();
    let purpose = format!("{} session edits (edit hook)", args.client.name());
    let claimer = Claimer {
        client: &client,
        session: &session,
        ttl: args.ttl,
        purpose: &purpose,
    };
    let runtime = runtime()?;
    let mut refusals = Vec::new();
    let mut blocked = Vec::new();
    let mut result = Ok(());
    for (resource, paths) in &repos {
        match runtime.block_on(claimer.edit(&mut state, resource, paths)) {
            Ok(Verdict::Allowed) => {}
            Ok(Verdict::Blocked(blockers)) => {
                blocked.push((format!("{} in {resource}", paths.join(", ")), blockers));
            }
            Ok(Verdict::Refused(message)) => refusals.push(message),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    // Written whatever happened: the runs started and the ids used count.
    locked.write(&state)?;
    result?;
    if let Some((files, blockers)) = blocked.first() {
        return Ok(answer::deny(args.client, &answer::held(files, blockers)));
    }
    if let Some(message) = refusals.first() {
        return Ok(answer::deny(
            args.client,
            &format!(
                "Availsync refused to claim {} for this session: {message}. Do not edit it now; tell the user.",
                describe(&edit.files)
            ),
        ));
    }
    Ok(answer::ALLOW)
}

/// Finishes the session's runs, within the client's time budget. Never
/// blocks anything: a session that ends cannot be held back.
fn session_end(args: &HookArgs, session_id: &str) -> u8 {
    let finished = (|| -> Result<(), HookError> {
        let state_dir = state_dir()?;
        let hook_dir = state_dir.join("hook");
        state::prune(&hook_dir, STATE_MAX_AGE);
        let Some(session) = Session::new(args.client, session_id, &state_dir) else {
            return Ok(());
        };
        let locked = Locked::open(&hook_dir, &session.base)?;
        let runs = locked.read().runs;
        if runs.is_empty() {
            locked.remove();
            return Ok(());
        }
        let client = connect(args, SESSION_END_BUDGET, RetryPolicy::none())?;
        let summary = format!("{} session ended", args.client.name());
        let runtime = runtime()?;
        let result = runtime.block_on(async {
            let mut finishing = tokio::task::JoinSet::new();
            for run in runs {
                let (client, summary) = (client.clone(), summary.clone());
                finishing.spawn(async move {
                    client
                        .finish_run(&run.run_id, Outcome::Succeeded, Some(&summary))
                        .await
                        .map(drop)
                });
            }
            let mut result = Ok(());
            while let Some(done) = finishing.join_next().await {
                if let Ok(Err(e)) = done {
                    result = Err(e);
                }
            }
            result
        });
        // The session is over either way; leases not finished lapse.
        locked.remove();
        Ok(result?)
    })();
    if let Err(e) = finished {
        eprintln!(
            "availsync: could not release the session's claims ({e}); they lapse at the end of their lease"
        );
    }
    answer::ALLOW
}

/// The block for an error: a STOP for an unreachable server (unless the
/// hook fails open), else the error itself.
fn failed(args: &HookArgs, error: &HookError, files: &str) -> u8 {
    let unreachable = matches!(error, HookError::Server(e) if unavailable(e));
    if unreachable && args.fail_open {
        eprintln!("availsync: {error}; the edit goes ahead uncoordinated (--fail-open)");
        return answer::ALLOW;
    }
    let reason = if unreachable {
        format!(
            "STOP: Availsync could not be reached ({error}), so nobody can tell whether another agent is editing {files}; the edit is blocked. Tell the user: start the Availsync server or fix its URL; or reinstall the hook with `availsync-setup install --hooks --fail-open` to let edits through while it is down."
        )
    } else {
        format!(
            "STOP: Availsync's edit hook could not check {files} ({error}); the edit is blocked. Tell the user."
        )
    };
    answer::deny(args.client, &reason)
}

/// Failures that mean "the server is not there" rather than "the set-up
/// is wrong": no connection, no answer in time, or an answer saying the
/// server is overloaded or failing.
fn unavailable(error: &Error) -> bool {
    match error {
        Error::Transport { error, .. } => !error.is_tls_failure(),
        Error::Timeout { .. } => true,
        other => other
            .api()
            .is_some_and(|api| api.status >= 500 || api.status == 429),
    }
}

/// `src/a.rs` or `a.rs, b.rs`: the files in a sentence.
fn describe(files: &[PathBuf]) -> String {
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    match names.len() {
        0 => "these files".to_owned(),
        _ => names.join(", "),
    }
}

fn state_dir() -> Result<PathBuf, HookError> {
    BaseDirs::from_env()
        .map(|dirs| dirs.state.join("availsync"))
        .map_err(|e| HookError::Config(e.to_string()))
}

/// The agent's client, from `--url`, the environment and the stored
/// credentials.
fn connect(args: &HookArgs, timeout: Duration, retry: RetryPolicy) -> Result<Client, HookError> {
    let resolved = crate::commands::resolve(args.url.as_deref())
        .map_err(|e| HookError::Config(format!("cannot read the stored credentials: {e}")))?;
    let key = resolved.key.ok_or_else(|| {
        HookError::Config(format!(
            "no agent key: run `availsync-setup login` or set {}",
            availsync_sdk::API_KEY_ENV
        ))
    })?;
    Ok(ClientBuilder::new()
        .base_url(resolved.url)
        .api_key(key)
        .timeout(timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .retry_policy(retry)
        .user_agent(concat!("availsync-setup-hook/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// A runtime on this thread only: the hook makes a call or two and exits,
/// and starting worker threads would cost more than the calls.
fn runtime() -> Result<tokio::runtime::Runtime, HookError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(HookError::Runtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_whole_seconds_the_server_accepts() {
        assert_eq!(parse_ttl("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_ttl("5s").is_err());
        assert!(parse_ttl("2h").is_err());
        assert!(parse_ttl("10.5s").is_err());
    }
}
