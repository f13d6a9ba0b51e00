//! Agent-client sessions: how the runs of one coding-agent session are
//! named, so that the pieces acting for that session — the edit hook
//! (`availsync-setup hook`) and the MCP server (`availsync-mcp`) — recognise
//! each other's claims as their own instead of blocking on them.
//!
//! The rule (docs/setup.md, "The edit hook"):
//!
//! - A session's base run id is `<client>-<sid>` ([`session_run_id`]), the
//!   session id reduced to the run-id charset. The hook's first run of a
//!   session is exactly that; its further runs, and every run the MCP server
//!   starts for the session, are `<client>-<sid>.<suffix>`.
//! - A holder is the session itself when its run id is the base or starts
//!   with the base and a dot ([`is_session_run`]). Session ids are random
//!   (UUIDs), so no other session's runs match.
//! - A session id can change under a running MCP server (Claude Code's
//!   `/clear` gives hooks a new one; the server keeps the id it was started
//!   with). The MCP server therefore writes a [`SessionLink`] file named
//!   after its parent process — the client — and the hook, a child of that
//!   same process, reads it to learn the other ids its session goes by.

use serde::{Deserialize, Serialize};

use crate::MAX_RUN_ID_LEN;

/// The environment variable in which Claude Code gives its session id to
/// the hooks and stdio MCP servers it starts.
pub const CLAUDE_SESSION_ENV: &str = "CLAUDE_CODE_SESSION_ID";

/// The prefix of Claude Code sessions' run ids.
pub const CLAUDE_CLIENT: &str = "claude";

/// The directory, under Availsync's per-user state directory, that holds
/// [`SessionLink`] files, one per client process: `sessions/<pid>.json`.
pub const SESSION_LINKS_DIR: &str = "sessions";

/// Longest session id kept in a run id: the rest is cut, leaving room in
/// [`MAX_RUN_ID_LEN`] for the client prefix and a suffix.
const MAX_SESSION_ID_LEN: usize = 96;

/// The base run id of a client's session: `<client>-<sid>`, with every
/// character of the session id outside `[A-Za-z0-9._:-]` replaced by `-`
/// and the id cut to 96 characters, so that the base and a suffix of up to
/// 24 characters stay a valid run id. `None` for a blank session id.
///
/// ```
/// use availsync_types::{is_valid_run_id, session_run_id};
///
/// let base = session_run_id("claude", "3f1c0e1a-5b7e-4c3a-9d51-0f6f2f1d9a11").unwrap();
/// assert_eq!(base, "claude-3f1c0e1a-5b7e-4c3a-9d51-0f6f2f1d9a11");
/// assert_eq!(session_run_id("claude", "a b/c").unwrap(), "claude-a-b-c");
/// assert!(is_valid_run_id(&session_run_id("gemini", &"x".repeat(500)).unwrap()));
/// assert_eq!(session_run_id("claude", "  "), None);
/// ```
pub fn session_run_id(client: &str, session_id: &str) -> Option<String> {
    let session_id = session_id.trim();
    if session_id.is_empty() {
        return None;
    }
    let reduced: String = session_id
        .chars()
        .take(MAX_SESSION_ID_LEN)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let mut base = format!("{client}-{reduced}");
    base.truncate(MAX_RUN_ID_LEN);
    Some(base)
}

/// Whether `run_id` is one of the session's runs: the base itself or
/// `<base>.<anything>`.
///
/// ```
/// use availsync_types::is_session_run;
///
/// assert!(is_session_run("claude-abc", "claude-abc"));
/// assert!(is_session_run("claude-abc.7f3a-1", "claude-abc"));
/// assert!(!is_session_run("claude-abcd", "claude-abc"));
/// assert!(!is_session_run("run-0198", "claude-abc"));
/// ```
pub fn is_session_run(run_id: &str, base: &str) -> bool {
    match run_id.strip_prefix(base) {
        Some(rest) => rest.is_empty() || rest.starts_with('.'),
        None => false,
    }
}

/// The file an MCP server writes, while it runs, at
/// `<state dir>/sessions/<its parent's pid>.json`, and removes when it
/// exits cleanly. A hook that finds it among its own ancestors' files
/// counts the listed sessions' runs as its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLink {
    /// The base run ids ([`session_run_id`]) of the sessions the server
    /// acts for.
    pub session_runs: Vec<String>,
    /// The MCP server's own process id: a file whose writer is gone is
    /// stale.
    pub pid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::is_valid_run_id;

    #[test]
    fn a_base_and_its_longest_suffix_stay_a_valid_run_id() {
        let base = session_run_id("claude", &"é".repeat(300)).unwrap();
        assert!(is_valid_run_id(&base), "{base}");
        let suffixed = format!("{base}.{}", "f".repeat(MAX_RUN_ID_LEN - 1 - base.len()));
        assert!(is_valid_run_id(&suffixed), "{suffixed}");
        assert!(MAX_RUN_ID_LEN - 1 - base.len() >= 24);
    }

    #[test]
    fn another_sessions_runs_are_not_ours() {
        let mine = session_run_id("claude", "s-1").unwrap();
        let theirs = session_run_id("claude", "s-10").unwrap();
        assert!(!is_session_run(&theirs, &mine));
        assert!(!is_session_run(&format!("{theirs}.1"), &mine));
        assert!(is_session_run(&format!("{mine}.hook-2"), &mine));
    }

    #[test]
    fn the_link_file_has_a_stable_shape() {
        let link = SessionLink {
            session_runs: vec!["claude-s".into()],
            pid: 42,
        };
        let text = serde_json::to_string(&link).unwrap();
        assert_eq!(text, r#"{"session_runs":["claude-s"],"pid":42}"#);
        assert_eq!(serde_json::from_str::<SessionLink>(&text).unwrap(), link);
    }
}
