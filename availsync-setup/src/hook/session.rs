//! Which runs belong to the hook's own session: its base run id
//! (`<client>-<session id>`), and the bases listed in the session-link
//! files of MCP servers started by one of the hook's ancestor processes —
//! the agent client that started this hook (see
//! `availsync_sdk::types::SessionLink`).

use std::collections::HashMap;
use std::path::Path;

use availsync_sdk::types::{SESSION_LINKS_DIR, SessionLink, is_session_run, session_run_id};

use super::HookClient;

/// The hook's session and the sessions linked to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// `<client>-<session id>`: the hook's first run of the session, and
    /// the prefix of its others.
    pub base: String,
    /// Every base whose runs are this session's own: `base` first, then
    /// the linked ones.
    pub own: Vec<String>,
}

impl Session {
    /// The session `session_id` of `client`, with the links found under
    /// `state` (Availsync's state directory). `None` for a blank id.
    pub fn new(client: HookClient, session_id: &str, state: &Path) -> Option<Self> {
        let base = session_run_id(client.run_prefix(), session_id)?;
        let mut own = vec![base.clone()];
        for linked in linked_bases(&state.join(SESSION_LINKS_DIR)) {
            if !own.contains(&linked) {
                own.push(linked);
            }
        }
        Some(Self { base, own })
    }

    /// Whether the holder's run is this session's.
    pub fn owns(&self, run_id: &str) -> bool {
        self.own.iter().any(|base| is_session_run(run_id, base))
    }
}

/// The bases named by link files whose client is one of this process's
/// ancestors and whose writer still runs. Files of writers that are gone
/// are deleted on the way. Reading nothing costs one directory listing.
fn linked_bases(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut links: Vec<(u32, SessionLink)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some((parent, pid)) = link_name(&path) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(link) = serde_json::from_str::<SessionLink>(&text) else {
            continue;
        };
        if link.pid != pid || !alive(pid) {
            // A writer that is gone cannot remove its own file.
            let _ = std::fs::remove_file(&path);
            continue;
        }
        links.push((parent, link));
    }
    if links.is_empty() {
        return Vec::new();
    }
    let ancestors = ancestors();
    links
        .into_iter()
        .filter(|(parent, _)| ancestors.contains(parent))
        .flat_map(|(_, link)| link.session_runs)
        .collect()
}

/// `<parent>-<pid>.json` → (parent, pid).
fn link_name(path: &Path) -> Option<(u32, u32)> {
    let name = path.file_name()?.to_str()?.strip_suffix(".json")?;
    let (parent, pid) = name.split_once('-')?;
    Some((parent.parse().ok()?, pid.parse().ok()?))
}

#[cfg(unix)]
fn alive(pid: u32) -> bool {
    use nix::errno::Errno;
    use nix::sys::signal::kill;
    use nix::unistd::Pid;
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // Signal 0 checks only that the process exists; EPERM: it does, as
    // another user's.
    matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM))
}

#[cfg(not(unix))]
fn alive(_pid: u32) -> bool {
    false
}

/// This process's ancestors, parent first, up to the first process.
fn ancestors() -> Vec<u32> {
    let parents = parent_table();
    let mut chain = Vec::new();
    let mut pid = std::process::id();
    // A cycle cannot happen in a process tree, but a table read while
    // processes come and go is not a tree: bound the walk.
    for _ in 0..64 {
        match parents(pid) {
            Some(parent) if parent > 0 && parent != pid => {
                chain.push(parent);
                pid = parent;
            }
            _ => break,
        }
    }
    chain
}

/// A pid's parent, from `/proc/<pid>/stat`.
#[cfg(target_os = "linux")]
fn parent_table() -> impl Fn(u32) -> Option<u32> {
    |pid| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) state ppid …`; comm may hold spaces and parentheses,
        // so read after the last `)`.
        let after = &stat[stat.rfind(')')? + 1..];
        after.split_whitespace().nth(1)?.parse().ok()
    }
}

/// A pid's parent, from one `ps` listing of every process (one process
/// start instead of one per ancestor).
#[cfg(all(unix, not(target_os = "linux")))]
fn parent_table() -> impl Fn(u32) -> Option<u32> {
    let table: HashMap<u32, u32> = std::process::Command::new("ps")
        .args(["-A", "-o", "pid=", "-o", "ppid="])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map(|out| parse_ps(&String::from_utf8_lossy(&out.stdout)))
        .unwrap_or_default();
    move |pid| table.get(&pid).copied()
}

#[cfg(not(unix))]
fn parent_table() -> impl Fn(u32) -> Option<u32> {
    |_| None
}

/// `pid ppid` lines → a map.
#[cfg_attr(target_os = "linux", allow(dead_code))]
fn parse_ps(text: &str) -> HashMap<u32, u32> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_link(dir: &Path, parent: u32, pid: u32, base: &str) -> std::path::PathBuf {
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join(format!("{parent}-{pid}.json"));
        let link = SessionLink {
            session_runs: vec![base.to_owned()],
            pid,
        };
        std::fs::write(&path, serde_json::to_string(&link).unwrap()).unwrap();
        path
    }

    #[test]
    fn a_link_written_under_an_ancestor_makes_its_sessions_ours() {
        let state = tempfile::tempdir().unwrap();
        let links = state.path().join(SESSION_LINKS_DIR);
        let parent = ancestors()[0];
        // The writer must be alive: this test process stands in for it.
        write_link(&links, parent, std::process::id(), "claude-old-session");
        // Another client's server: its parent is no ancestor of ours.
        write_link(&links, u32::MAX - 1, std::process::id(), "claude-elsewhere");

        let session = Session::new(HookClient::ClaudeCode, "new-session", state.path()).unwrap();
        assert_eq!(session.base, "claude-new-session");
        assert_eq!(session.own, ["claude-new-session", "claude-old-session"]);
        assert!(session.owns("claude-old-session.1a2b3c4d-1"));
        assert!(session.owns("claude-new-session"));
        assert!(!session.owns("claude-elsewhere.1a2b3c4d-1"));
        assert!(!session.owns("claude-old-session-2"));
    }

    #[test]
    fn a_link_whose_writer_is_gone_is_ignored_and_deleted() {
        let state = tempfile::tempdir().unwrap();
        let links = state.path().join(SESSION_LINKS_DIR);
        let parent = ancestors()[0];
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let gone = child.id();
        child.wait().unwrap();
        let stale = write_link(&links, parent, gone, "claude-dead");
        let session = Session::new(HookClient::ClaudeCode, "s", state.path()).unwrap();
        assert_eq!(session.own, ["claude-s"]);
        assert!(!stale.exists());
    }

    #[test]
    fn the_ancestry_reaches_the_test_runners_parent() {
        let chain = ancestors();
        assert!(!chain.is_empty());
        assert!(!chain.contains(&std::process::id()));
    }

    #[test]
    fn ps_listings_parse() {
        let table = parse_ps("  1     0\n 42   1\nbad line\n");
        assert_eq!(table.get(&42), Some(&1));
        assert_eq!(table.len(), 2);
    }
}
