//! The session link: how this server and the edit hook of the same agent
//! session (`availsync-setup hook`) recognise each other's claims as one
//! holder (docs/setup.md, "The edit hook"; the rule is
//! [`availsync_sdk::types::is_session_run`]).
//!
//! - The runs `start_run` starts are named `<base>.<tag>-<n>`: `<base>` is
//!   `claude-<session id>` when Claude Code gives this process
//!   `CLAUDE_CODE_SESSION_ID`, else `mcp-<tag>` (runs `mcp-<tag>.<n>`);
//!   `<tag>` is random per process, so a restarted server never replays an
//!   earlier run's id; `n` counts from 1.
//! - While it runs, this process keeps the file
//!   `<state dir>/availsync/sessions/<parent pid>-<pid>.json` =
//!   `{"session_runs": ["<base>"], "pid": <pid>}`. Its parent is the agent
//!   client, which is also the hook's ancestor; the hook reads the file and
//!   counts runs under `<base>` as its own — also after Claude Code's
//!   `/clear`, when the hook's session id changes and ours does not.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use availsync_sdk::types::{
    CLAUDE_CLIENT, CLAUDE_SESSION_ENV, SESSION_LINKS_DIR, SessionLink, session_run_id,
};

/// How this process names its runs.
#[derive(Debug)]
pub struct RunNames {
    base: String,
    /// What comes before the counter: `<base>.<tag>-`, or `<base>.` when
    /// the base already carries the tag.
    prefix: String,
    next: AtomicU64,
}

impl RunNames {
    /// Names for a process with Claude Code's session id `session_id`
    /// (`None` or blank: no session known), `tag` being random per process.
    pub fn new(session_id: Option<&str>, tag: &str) -> Self {
        let (base, prefix) = match session_id.and_then(|sid| session_run_id(CLAUDE_CLIENT, sid)) {
            Some(base) => {
                let prefix = format!("{base}.{tag}-");
                (base, prefix)
            }
            None => {
                let base = format!("mcp-{tag}");
                let prefix = format!("{base}.");
                (base, prefix)
            }
        };
        Self {
            base,
            prefix,
            next: AtomicU64::new(1),
        }
    }

    /// The base run id every run of this process starts with.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The next run id: `<base>.<tag>-<n>` (`mcp-<tag>.<n>` without a
    /// session id).
    pub fn next_run_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{}{n}", self.prefix)
    }
}

static NAMES: OnceLock<RunNames> = OnceLock::new();

/// The id for the next run `start_run` starts, once [`init`] ran (else
/// `None`: the SDK's random id is used).
pub fn next_run_id() -> Option<String> {
    NAMES.get().map(RunNames::next_run_id)
}

/// Reads the session id from the environment, fixes this process's run
/// names, and writes the link file; the guard removes the file when
/// dropped. A file that cannot be written is logged and left out: the
/// server works without it, only the hook then cannot tell our claims from
/// another session's after a `/clear`.
pub fn init() -> Option<LinkFile> {
    let session_id = std::env::var(CLAUDE_SESSION_ENV).ok();
    let tag = random_tag();
    let names = NAMES.get_or_init(|| RunNames::new(session_id.as_deref(), &tag));
    let dir = state_dir()?.join(SESSION_LINKS_DIR);
    let parent = parent_pid()?;
    match LinkFile::write(&dir, parent, std::process::id(), names.base()) {
        Ok(file) => {
            tracing::debug!(path = %file.path().display(), base = names.base(), "session link written");
            Some(file)
        }
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot write the session link file; the edit hook will not recognise this server's claims after /clear");
            None
        }
    }
}

/// Eight random hex digits: the random tail of a fresh SDK run id.
fn random_tag() -> String {
    let id = availsync_sdk::new_run_id();
    id[id.len() - 8..].to_owned()
}

/// The link file this process wrote; removed on drop.
#[derive(Debug)]
pub struct LinkFile {
    path: PathBuf,
}

impl LinkFile {
    /// Writes `<dir>/<parent>-<pid>.json` for the session runs under
    /// `base`.
    pub fn write(dir: &Path, parent: u32, pid: u32, base: &str) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{parent}-{pid}.json"));
        let link = SessionLink {
            session_runs: vec![base.to_owned()],
            pid,
        };
        let text = serde_json::to_string(&link).map_err(std::io::Error::other)?;
        // Written whole under a temporary name, then renamed: a hook never
        // reads half a file.
        let temp = dir.join(format!(".{parent}-{pid}.json.tmp"));
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, &path)?;
        Ok(Self { path })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LinkFile {
    fn drop(&mut self) {
        // Gone already is fine; anything else only leaves a stale file,
        // which the hook recognises by its dead writer.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Availsync's per-user state directory: `$XDG_STATE_HOME/availsync`
/// (default `~/.local/state/availsync`) on Linux and other Unix-likes,
/// `~/Library/Application Support/availsync` on macOS,
/// `%LOCALAPPDATA%\availsync` on Windows — where `availsync-setup` keeps
/// its state too.
fn state_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let base = if cfg!(windows) {
        var("LOCALAPPDATA")?
    } else if cfg!(target_os = "macos") {
        var("HOME")?.join("Library").join("Application Support")
    } else {
        var("XDG_STATE_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| var("HOME").map(|home| home.join(".local").join("state")))?
    };
    Some(base.join("availsync"))
}

#[cfg(unix)]
fn parent_pid() -> Option<u32> {
    Some(std::os::unix::process::parent_id())
}

#[cfg(not(unix))]
fn parent_pid() -> Option<u32> {
    // The hook walks its ancestors only on Linux and macOS.
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use availsync_sdk::types::{is_session_run, is_valid_run_id};

    #[test]
    fn runs_of_a_claude_session_carry_its_base_and_count_up() {
        let names = RunNames::new(Some("5d1f-uuid"), "0a1b2c3d");
        assert_eq!(names.base(), "claude-5d1f-uuid");
        assert_eq!(names.next_run_id(), "claude-5d1f-uuid.0a1b2c3d-1");
        let second = names.next_run_id();
        assert_eq!(second, "claude-5d1f-uuid.0a1b2c3d-2");
        assert!(is_session_run(&second, names.base()));
        assert!(is_valid_run_id(&second));
    }

    #[test]
    fn without_a_session_id_the_process_is_its_own_session() {
        for sid in [None, Some(""), Some("   ")] {
            let names = RunNames::new(sid, "99aa00bb");
            assert_eq!(names.base(), "mcp-99aa00bb");
            assert_eq!(names.next_run_id(), "mcp-99aa00bb.1");
        }
    }

    #[test]
    fn a_long_session_id_still_gives_valid_run_ids() {
        let names = RunNames::new(Some(&"s".repeat(400)), "0a1b2c3d");
        for _ in 0..3 {
            assert!(is_valid_run_id(&names.next_run_id()));
        }
    }

    #[test]
    fn the_link_file_names_the_base_and_goes_away_with_its_guard() {
        let dir = tempfile::tempdir().unwrap();
        let file = LinkFile::write(dir.path(), 4242, 4343, "claude-s1").unwrap();
        assert_eq!(file.path(), dir.path().join("4242-4343.json"));
        let text = std::fs::read_to_string(file.path()).unwrap();
        let link: SessionLink = serde_json::from_str(&text).unwrap();
        assert_eq!(
            link,
            SessionLink {
                session_runs: vec!["claude-s1".into()],
                pid: 4343
            }
        );
        let path = file.path().to_owned();
        drop(file);
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn random_tags_are_eight_hex_digits_and_differ() {
        let a = random_tag();
        assert_eq!(a.len(), 8);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, random_tag());
    }
}
