//! Where the agent key comes from: `$AVAILSYNC_API_KEY`, the credentials
//! file `login` writes, or nowhere. Only where it is, never the key itself.

use std::path::PathBuf;

use availsync_sdk::credentials;
use serde::Serialize;

/// Where the key in force comes from (the environment wins over the file,
/// as in the SDK and `availsync-mcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `$AVAILSYNC_API_KEY` is set.
    Env,
    /// The credentials file holds a key.
    File,
    /// No key is known.
    None,
}

/// What this machine knows about the agent key.
#[derive(Debug, Clone, Serialize)]
pub struct KeyState {
    /// Where the key in force comes from.
    pub source: Source,
    /// The credentials file that is read (and that `login` writes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// Whether that file holds a key: what clients started outside this
    /// shell can use.
    pub stored: bool,
    /// Why the credentials file could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl KeyState {
    /// Looks at `$AVAILSYNC_API_KEY` and the credentials file.
    pub fn from_env() -> Self {
        let env = std::env::var(availsync_sdk::API_KEY_ENV).is_ok_and(|k| !k.trim().is_empty());
        let (credentials_file, stored, error) = match credentials::default_path() {
            Ok(path) => match credentials::load(&path) {
                Ok(found) => (
                    Some(path),
                    found.is_some_and(|c| !c.api_key.trim().is_empty()),
                    None,
                ),
                Err(e) => (Some(path), false, Some(e.to_string())),
            },
            Err(e) => (None, false, Some(e.to_string())),
        };
        let source = if env {
            Source::Env
        } else if stored {
            Source::File
        } else {
            Source::None
        };
        Self {
            source,
            credentials_file,
            stored,
            error,
        }
    }

    /// One line for people: where the key comes from, or what to do.
    pub fn describe(&self) -> String {
        let file = self
            .credentials_file
            .as_ref()
            .map_or_else(String::new, |p| p.display().to_string());
        match (self.source, self.stored, &self.error) {
            (Source::Env, true, _) => format!(
                "key from ${} (a key is also stored in {file})",
                availsync_sdk::API_KEY_ENV
            ),
            (Source::Env, false, Some(error)) => format!(
                "key from ${}; the credentials file cannot be read ({error})",
                availsync_sdk::API_KEY_ENV
            ),
            (Source::Env, false, None) => format!(
                "key from ${} only: nothing is stored, so clients started outside this environment have no key; run `availsync-setup login` to store it",
                availsync_sdk::API_KEY_ENV
            ),
            (Source::File, _, _) => format!("key stored in {file}"),
            (Source::None, _, Some(error)) => {
                format!("no key: the credentials file cannot be read ({error})")
            }
            (Source::None, _, None) => {
                "no credentials stored; run `availsync-setup login`".to_owned()
            }
        }
    }
}
