//! Backups of configuration files before they are changed: where they go
//! and how many are kept.
//!
//! A user-scope file's backups sit beside it, as
//! `<name>.availsync-backup-YYYYMMDDTHHMMSS`. A project's files are shared
//! through its repository, so their backups go outside it, under
//! `<state dir>/availsync/backups/<name>-<hash of the file's path>/`.
//! After each backup only the newest few of that file's are kept.

use std::path::{Path, PathBuf};

use super::fsio::{FsError, fail};

/// How many backups of each file are kept unless told otherwise.
pub const DEFAULT_KEEP: usize = 3;

/// The environment variable that sets how many backups are kept.
pub const KEEP_ENV: &str = "AVAILSYNC_KEEP_BACKUPS";

/// Where backups go and how many of each file are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backups {
    /// `None`: beside each file; else a directory of backup directories.
    under: Option<PathBuf>,
    /// Backups kept per file; 0 makes none.
    keep: usize,
}

impl Backups {
    /// Backups beside each file.
    pub fn beside(keep: usize) -> Self {
        Self { under: None, keep }
    }

    /// Backups under `dir`, one directory per file.
    pub fn under(dir: PathBuf, keep: usize) -> Self {
        Self {
            under: Some(dir),
            keep,
        }
    }

    /// `$AVAILSYNC_KEEP_BACKUPS`, else [`DEFAULT_KEEP`].
    pub fn keep_from_env() -> usize {
        std::env::var(KEEP_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(DEFAULT_KEEP)
    }

    /// The directory `path`'s backups go to.
    pub fn dir_for(&self, path: &Path) -> PathBuf {
        match &self.under {
            None => path.parent().map(Path::to_owned).unwrap_or_default(),
            Some(root) => {
                let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
                let hash = crate::fnv::fnv1a(&absolute.to_string_lossy()) as u32;
                root.join(format!("{}-{hash:08x}", file_name(path)))
            }
        }
    }

    /// Copies `path` to a new timestamped backup, then deletes that file's
    /// oldest backups beyond the number kept. Answers the backup's path, or
    /// `None` when no backups are kept.
    pub fn save(&self, path: &Path) -> Result<Option<PathBuf>, FsError> {
        if self.keep == 0 {
            return Ok(None);
        }
        let dir = self.dir_for(path);
        std::fs::create_dir_all(&dir).map_err(fail("cannot create the backup directory", &dir))?;
        let stamp = chrono::Local::now().format("%Y%m%dT%H%M%S").to_string();
        let prefix = prefix(path);
        // Within one second, each backup takes the next number after the
        // newest one there — never a number pruning has freed, which
        // would sort before the backups it follows.
        let newest = existing(&dir, &prefix)
            .into_iter()
            .filter(|((s, _), _)| *s == stamp)
            .map(|((_, n), _)| n)
            .max();
        let mut n = newest.map_or(1, |n| n + 1);
        let name = |n: u32| match n {
            1 => format!("{prefix}{stamp}"),
            n => format!("{prefix}{stamp}-{n}"),
        };
        let mut candidate = dir.join(name(n));
        while candidate.exists() {
            n += 1;
            candidate = dir.join(name(n));
        }
        std::fs::copy(path, &candidate).map_err(fail("cannot back up", path))?;
        self.prune(&dir, &prefix);
        Ok(Some(candidate))
    }

    /// Deletes all but the newest `keep` backups named `prefix…` in `dir`.
    /// Best effort: a backup that cannot be deleted is left.
    fn prune(&self, dir: &Path, prefix: &str) {
        let mut found = existing(dir, prefix);
        found.sort();
        let excess = found.len().saturating_sub(self.keep);
        for (_, old) in found.into_iter().take(excess) {
            let _ = std::fs::remove_file(old);
        }
    }
}

/// The backups named `prefix…` in `dir`, each with its place in time.
fn existing(dir: &Path, prefix: &str) -> Vec<((String, u32), PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let order = order(name.strip_prefix(prefix)?)?;
            Some((order, e.path()))
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What every backup of `path` is named before its timestamp.
fn prefix(path: &Path) -> String {
    format!("{}.availsync-backup-", file_name(path))
}

/// `YYYYMMDDTHHMMSS[-N]` as a sortable pair; `None` for other names.
fn order(suffix: &str) -> Option<(String, u32)> {
    let (stamp, n) = match suffix.split_once('-') {
        Some((stamp, n)) => (stamp, n.parse().ok()?),
        None => (suffix, 1),
    };
    let well_formed = stamp.len() == 15
        && stamp
            .chars()
            .enumerate()
            .all(|(i, c)| if i == 8 { c == 'T' } else { c.is_ascii_digit() });
    well_formed.then(|| (stamp.to_owned(), n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backups_sort_by_time_then_sequence() {
        assert!(order("20250101T000000-10") > order("20250101T000000-2"));
        assert!(order("20250101T000000-2") > order("20250101T000000"));
        assert_eq!(order("20250101T000000.bak"), None);
        assert_eq!(order("notes"), None);
    }

    #[test]
    fn only_the_newest_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mcp.json");
        std::fs::write(&file, "{}").unwrap();
        for old in ["20200101T000000", "20200102T000000", "20200103T000000"] {
            std::fs::write(
                dir.path().join(format!("mcp.json.availsync-backup-{old}")),
                "",
            )
            .unwrap();
        }
        let other = dir
            .path()
            .join("other.json.availsync-backup-20200101T000000");
        std::fs::write(&other, "").unwrap();
        let newest = Backups::beside(2).save(&file).unwrap().unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("mcp.json.availsync-backup-"))
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "mcp.json.availsync-backup-20200103T000000".to_owned(),
                newest.file_name().unwrap().to_string_lossy().into_owned()
            ]
        );
        assert!(other.exists(), "another file's backups are not touched");
        assert_eq!(Backups::beside(0).save(&file).unwrap(), None);
    }
}
