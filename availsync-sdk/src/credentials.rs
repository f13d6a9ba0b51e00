//! The stored credentials file that `availsync-setup login` writes and the
//! MCP server and guard command read: `<config dir>/availsync/credentials.toml`,
//! mode 0600, replaced atomically.
//!
//! ```toml
//! # Written by availsync-setup. Keep it private.
//! url = "http://127.0.0.1:8787"
//! api_key = "avs_live_…"
//! ```

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Environment variable that points at another credentials file.
pub const CREDENTIALS_FILE_ENV: &str = "AVAILSYNC_CREDENTIALS_FILE";

/// A server URL and an agent API key. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The server's base URL.
    pub url: String,
    /// The agent API key.
    pub api_key: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("url", &self.url)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

/// Why the credentials file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// No config directory on this platform, and no override.
    #[error("no configuration directory is known on this system; set {CREDENTIALS_FILE_ENV}")]
    NoConfigDir,
    /// Reading or writing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path} is not a valid credentials file: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
}

/// `$AVAILSYNC_CREDENTIALS_FILE`, else `<config dir>/availsync/credentials.toml`
/// (`~/.config/availsync/credentials.toml` on Linux, honouring
/// `XDG_CONFIG_HOME`).
pub fn default_path() -> Result<PathBuf, CredentialsError> {
    if let Some(path) = std::env::var_os(CREDENTIALS_FILE_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    dirs::config_dir()
        .map(|dir| dir.join("availsync").join("credentials.toml"))
        .ok_or(CredentialsError::NoConfigDir)
}

/// Reads the credentials at `path`; `None` when the file does not exist.
pub fn load(path: &Path) -> Result<Option<Credentials>, CredentialsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialsError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| CredentialsError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })
}

/// Writes the credentials to `path` atomically (temporary file, fsync,
/// rename), readable only by the owner, creating the directory if needed.
pub fn save(path: &Path, credentials: &Credentials) -> Result<(), CredentialsError> {
    let io = |source| CredentialsError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let body = toml::to_string(credentials).map_err(|e| CredentialsError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mut file = tempfile::Builder::new()
        .prefix(".credentials-")
        .tempfile_in(dir)
        .map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io)?;
    }
    file.write_all(b"# Written by availsync-setup. Keep it private: it holds an agent API key.\n")
        .and_then(|()| file.write_all(body.as_bytes()))
        .and_then(|()| file.as_file().sync_all())
        .map_err(io)?;
    file.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// Deletes the credentials file; answers whether there was one.
pub fn remove(path: &Path) -> Result<bool, CredentialsError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(CredentialsError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_credentials_load_back_and_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("credentials.toml");
        assert!(load(&path).unwrap().is_none());
        let credentials = Credentials {
            url: "http://127.0.0.1:8787".into(),
            api_key: "avs_live_secret".into(),
        };
        save(&path, &credentials).unwrap();
        assert_eq!(load(&path).unwrap(), Some(credentials.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!format!("{credentials:?}").contains("secret"));
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
    }

    #[test]
    fn a_broken_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        std::fs::write(&path, "url = \n").unwrap();
        let err = load(&path).unwrap_err();
        assert!(err.to_string().contains("credentials.toml"), "{err}");
    }
}
