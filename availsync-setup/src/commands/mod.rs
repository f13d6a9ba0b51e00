//! The subcommands other than `guard`, one module each, and what they share.

pub mod changes;
pub mod claude_cli;
pub mod detect;
pub mod doctor;
pub mod install;
pub mod login;
pub mod logout;
pub mod remove;
pub mod test;
pub mod verify;

use std::path::PathBuf;

use availsync_sdk::credentials::{self, Credentials};

use crate::paths::BaseDirs;

/// The server URL and key in force: the environment first, then the stored
/// credentials, then the default URL.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The server URL.
    pub url: String,
    /// Where the URL came from.
    pub url_from: UrlSource,
    /// The agent key, if any is known.
    pub key: Option<String>,
}

/// Where the server URL in force came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// The command's `--url` flag.
    Flag,
    /// An environment variable (`AVAILSYNC_URL` or its alias).
    Env(&'static str),
    /// The stored credentials.
    Credentials,
    /// Nothing named one: the default.
    Default,
}

impl std::fmt::Display for UrlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flag => f.write_str("--url"),
            Self::Env(name) => write!(f, "${name}"),
            Self::Credentials => f.write_str("the stored credentials"),
            Self::Default => f.write_str("the default"),
        }
    }
}

/// Reads `AVAILSYNC_URL`/`AVAILSYNC_API_KEY` and the stored credentials.
pub fn resolve(url_flag: Option<&str>) -> Result<Resolved, credentials::CredentialsError> {
    let path = credentials::default_path().ok();
    let stored: Option<Credentials> = match &path {
        Some(path) => credentials::load(path)?,
        None => None,
    };
    Ok(resolve_with(url_flag, stored.as_ref()))
}

/// [`resolve`] with the stored credentials already read (or left out
/// because they could not be).
pub fn resolve_with(url_flag: Option<&str>, stored: Option<&Credentials>) -> Resolved {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (url, url_from) = if let Some(url) = url_flag {
        (url.to_owned(), UrlSource::Flag)
    } else if let Some(url) = env(availsync_sdk::URL_ENV) {
        (url, UrlSource::Env(availsync_sdk::URL_ENV))
    } else if let Some(url) = env(availsync_sdk::URL_ENV_ALIAS) {
        (url, UrlSource::Env(availsync_sdk::URL_ENV_ALIAS))
    } else if let Some(stored) = stored {
        (stored.url.clone(), UrlSource::Credentials)
    } else {
        (
            availsync_sdk::types::DEFAULT_URL.to_owned(),
            UrlSource::Default,
        )
    };
    let key = env(availsync_sdk::API_KEY_ENV)
        .or_else(|| stored.map(|c| c.api_key.clone()))
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty());
    Resolved {
        url: url.trim_end_matches('/').to_owned(),
        url_from,
        key,
    }
}

/// Where `availsync-mcp` is: `--mcp-path` (or `AVAILSYNC_MCP_PATH`), else
/// beside this executable, else on `PATH`. Always absolute.
pub fn find_mcp(flag: Option<&PathBuf>, dirs: &BaseDirs) -> Result<PathBuf, String> {
    const NAME: &str = "availsync-mcp";
    let from_env = std::env::var_os("AVAILSYNC_MCP_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
    if let Some(path) = flag.or(from_env.as_ref()) {
        let absolute = std::path::absolute(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !crate::paths::is_executable(&absolute) {
            return Err(format!(
                "--mcp-path {} is not an executable file",
                absolute.display()
            ));
        }
        return Ok(absolute);
    }
    let exe_name = if cfg!(windows) {
        "availsync-mcp.exe"
    } else {
        NAME
    };
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        let sibling = dir.join(exe_name);
        if crate::paths::is_executable(&sibling) {
            return Ok(sibling);
        }
    }
    dirs.which(NAME).ok_or_else(|| {
        format!(
            "cannot find {NAME}: it is neither next to this program nor on PATH; install it (cargo install --path availsync-mcp) or pass --mcp-path"
        )
    })
}
