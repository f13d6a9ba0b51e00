//! Reading and safely replacing configuration files: a timestamped backup
//! beside the file first, then an atomic replace (temporary file in the same
//! directory, fsync, rename) that keeps the file's permissions.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A file operation that failed, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{action} {path}: {source}")]
pub struct FsError {
    /// What was being done ("cannot read", "cannot write" …).
    pub action: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub source: std::io::Error,
}

fn fail(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FsError {
    let path = path.to_owned();
    move |source| FsError {
        action,
        path,
        source,
    }
}

/// The file's text; `None` when it does not exist.
pub fn read(path: &Path) -> Result<Option<String>, FsError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| FsError {
            action: "cannot read",
            path: path.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8 text"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fail("cannot read", path)(e)),
    }
}

/// Copies `path` to `path.availsync-backup-YYYYMMDDTHHMMSS[-N]` beside it and
/// answers the backup's path.
pub fn backup(path: &Path) -> Result<PathBuf, FsError> {
    let stamp = chrono::Local::now().format("%Y%m%dT%H%M%S");
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut candidate = path.with_file_name(format!("{name}.availsync-backup-{stamp}"));
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = path.with_file_name(format!("{name}.availsync-backup-{stamp}-{n}"));
    }
    std::fs::copy(path, &candidate).map_err(fail("cannot back up", path))?;
    Ok(candidate)
}

/// Replaces (or creates) `path` with `text` atomically, keeping an existing
/// file's permissions; new files get 0644, or 0600 when `private`.
pub fn write_atomic(path: &Path, text: &str, private: bool) -> Result<(), FsError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(fail("cannot create the directory of", path))?;
    let permissions = std::fs::metadata(path).ok().map(|m| m.permissions());
    let mut temp = tempfile::Builder::new()
        .prefix(".availsync-")
        .tempfile_in(&dir)
        .map_err(fail("cannot write next to", path))?;
    let target = fail("cannot write", path);
    let result = temp
        .write_all(text.as_bytes())
        .and_then(|()| match permissions {
            Some(p) => temp.as_file().set_permissions(p),
            None => default_mode(temp.as_file(), private),
        })
        .and_then(|()| temp.as_file().sync_all());
    result.map_err(target)?;
    temp.persist(path)
        .map_err(|e| fail("cannot replace", path)(e.error))?;
    if let Ok(dir) = std::fs::File::open(&dir) {
        // Best effort: make the rename durable.
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(unix)]
fn default_mode(file: &std::fs::File, private: bool) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Configs hold no secret by default: 0644, like an editor would create.
    let mode = if private { 0o600 } else { 0o644 };
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn default_mode(_file: &std::fs::File, _private: bool) -> std::io::Result<()> {
    Ok(())
}
