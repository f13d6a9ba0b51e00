//! What the hook remembers of a session between edits, in
//! `<state dir>/availsync/hook/<base>.json`: the runs it started (which
//! repository, which paths), so that an edit of a path already held costs
//! one call (extend), and `SessionEnd` knows what to finish.
//!
//! The server stays the truth: a file that is lost or stale only costs
//! calls (a lost lease is noticed at the next call and a new run started).
//! Hooks of one session may run at once (subagents), so each holds the
//! session's lock file for its whole turn.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A session's runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// The runs the hook started and still counts as live.
    #[serde(default)]
    pub runs: Vec<HookRun>,
    /// How many run ids the session has used.
    #[serde(default)]
    pub used: u32,
}

/// A run the hook started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRun {
    /// `repo:owner/name`.
    pub resource: String,
    /// Its id.
    pub run_id: String,
    /// An observe agent's run: it holds no lease and no paths change.
    #[serde(default)]
    pub observe: bool,
    /// The patterns it holds.
    pub paths: Vec<String>,
}

/// The session's state file, locked for as long as this lives.
#[derive(Debug)]
pub struct Locked {
    path: PathBuf,
    _lock: File,
}

/// The state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct StateError {
    action: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

fn fail(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StateError {
    let path = path.to_owned();
    move |source| StateError {
        action,
        path,
        source,
    }
}

impl Locked {
    /// Locks the state of the session `base` under `dir`, waiting for
    /// another hook of the session to finish.
    pub fn open(dir: &Path, base: &str) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(fail("cannot create", dir))?;
        // Run ids may hold `:`, which Windows refuses in file names.
        let name = base.replace(':', "_");
        let lock_path = dir.join(format!("{name}.lock"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(fail("cannot open", &lock_path))?;
        lock.lock().map_err(fail("cannot lock", &lock_path))?;
        Ok(Self {
            path: dir.join(format!("{name}.json")),
            _lock: lock,
        })
    }

    /// The state; empty when there is none yet or it does not parse (it
    /// is only a cache of what the server knows).
    pub fn read(&self) -> SessionState {
        std::fs::read(&self.path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Replaces the state (a temporary file renamed over it; not synced:
    /// losing it to a crash only costs calls).
    pub fn write(&self, state: &SessionState) -> Result<(), StateError> {
        let text = serde_json::to_vec(state).map_err(|e| StateError {
            action: "cannot encode",
            path: self.path.clone(),
            source: std::io::Error::other(e),
        })?;
        let temp = self.path.with_extension("json.tmp");
        std::fs::write(&temp, text).map_err(fail("cannot write", &temp))?;
        std::fs::rename(&temp, &self.path).map_err(fail("cannot replace", &self.path))
    }

    /// Deletes the state (the session ended). The lock file stays: a hook
    /// waiting on it must not find another one made beside it; [`prune`]
    /// takes it later.
    pub fn remove(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Deletes state files untouched for `max_age` (sessions that ended
/// without `SessionEnd`: a crash, a client that sends none).
pub fn prune(dir: &Path, max_age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > max_age);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_goes_away_at_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let locked = Locked::open(dir.path(), "claude-s:1").unwrap();
        assert_eq!(locked.read(), SessionState::default());
        let state = SessionState {
            runs: vec![HookRun {
                resource: "repo:acme/web".into(),
                run_id: "claude-s:1".into(),
                observe: false,
                paths: vec!["src/a.rs".into()],
            }],
            used: 1,
        };
        locked.write(&state).unwrap();
        assert_eq!(locked.read(), state);
        assert!(dir.path().join("claude-s_1.json").exists());
        locked.remove();
        assert!(!dir.path().join("claude-s_1.json").exists());
    }

    #[test]
    fn a_second_hook_of_the_session_waits_for_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = Locked::open(dir.path(), "claude-s").unwrap();
        let path = dir.path().to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let second = Locked::open(&path, "claude-s").unwrap();
            tx.send(second.read().used).unwrap();
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(rx.try_recv().is_err(), "the second hook went ahead");
        first
            .write(&SessionState {
                used: 7,
                ..SessionState::default()
            })
            .unwrap();
        drop(first);
        assert_eq!(rx.recv().unwrap(), 7);
        waiter.join().unwrap();
    }

    #[test]
    fn garbage_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let locked = Locked::open(dir.path(), "b").unwrap();
        std::fs::write(dir.path().join("b.json"), "{not json").unwrap();
        assert_eq!(locked.read(), SessionState::default());
    }
}
