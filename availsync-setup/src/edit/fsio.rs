//! Reading and safely replacing configuration files: an atomic replace
//! (temporary file in the same directory, fsync, rename) that keeps the
//! file's permissions and writes through symbolic links.

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

pub(super) fn fail(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> FsError {
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

/// Where writing `path` really goes: `path` itself, or, when it is a
/// symbolic link (a dotfile manager's), the file the link chain ends at —
/// the link is kept and its target edited. A link to nothing is refused:
/// replacing it would turn a link the user made into a plain file.
pub fn write_target(path: &Path) -> Result<PathBuf, FsError> {
    const MAX_LINKS: usize = 40;
    let mut current = path.to_owned();
    for _ in 0..MAX_LINKS {
        let meta = match std::fs::symlink_metadata(&current) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && current == path => {
                return Ok(current);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(FsError {
                    action: "will not replace the symbolic link",
                    path: path.to_owned(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!(
                            "it points to {}, which does not exist; create that file or remove the link, then run again",
                            current.display()
                        ),
                    ),
                });
            }
            Err(e) => return Err(fail("cannot read", &current)(e)),
        };
        if !meta.file_type().is_symlink() {
            return Ok(current);
        }
        let link = std::fs::read_link(&current).map_err(fail("cannot read the link", &current))?;
        current = match current.parent() {
            Some(dir) => dir.join(link),
            None => link,
        };
    }
    Err(FsError {
        action: "will not follow the symbolic link",
        path: path.to_owned(),
        source: std::io::Error::other(format!("more than {MAX_LINKS} links in a row")),
    })
}

/// Replaces (or creates) `path` with `text` atomically, keeping an existing
/// file's permissions; new files get 0644, or 0600 when `private`.
///
/// A symbolic link is written through: its target is replaced and the link
/// stays (see [`write_target`]).
pub fn write_atomic(path: &Path, text: &str, private: bool) -> Result<(), FsError> {
    let resolved = write_target(path)?;
    let path = resolved.as_path();
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
