//! The subcommands other than `guard`, one module each, and what they share.

pub mod changes;
pub mod claude_cli;
pub mod detect;
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
    /// The agent key, if any is known.
    pub key: Option<String>,
}

/// Reads `AVAILSYNC_URL`/`AVAILSYNC_API_KEY` and the stored credentials.
pub fn resolve(url_flag: Option<&str>) -> Result<Resolved, credentials::CredentialsError> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let path = credentials::default_path().ok();
    let stored: Option<Credentials> = match &path {
        Some(path) => credentials::load(path)?,
        None => None,
    };
    let url = url_flag
        .map(str::to_owned)
        .or_else(|| env(availsync_sdk::URL_ENV))
        .or_else(|| env(availsync_sdk::URL_ENV_ALIAS))
        .or_else(|| stored.as_ref().map(|c| c.url.clone()))
        .unwrap_or_else(|| availsync_sdk::types::DEFAULT_URL.to_owned());
    let key = env(availsync_sdk::API_KEY_ENV)
        .map(|k| k.trim().to_owned())
        .or_else(|| stored.map(|c| c.api_key));
    Ok(Resolved {
        url: url.trim_end_matches('/').to_owned(),
        key,
    })
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
