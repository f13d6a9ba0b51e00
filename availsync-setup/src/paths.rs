//! Where things live: the base directories every client path is built on,
//! read from the environment so tests (and unusual setups) can point them
//! anywhere.

use std::path::{Path, PathBuf};

/// The operating system whose conventions apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// Linux and other Unix-likes: XDG directories.
    Linux,
    /// macOS: `~/Library/Application Support`.
    Mac,
    /// Windows: `%APPDATA%`, `%LOCALAPPDATA%`.
    Windows,
}

impl Os {
    /// The system this binary was built for.
    pub fn current() -> Self {
        if cfg!(target_os = "macos") {
            Self::Mac
        } else if cfg!(windows) {
            Self::Windows
        } else {
            Self::Linux
        }
    }
}

/// The directories client paths are resolved against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseDirs {
    /// Conventions to follow.
    pub os: Os,
    /// The user's home directory.
    pub home: PathBuf,
    /// Per-user application configuration: `$XDG_CONFIG_HOME` (default
    /// `~/.config`) on Linux, `~/Library/Application Support` on macOS,
    /// `%APPDATA%` on Windows.
    pub config: PathBuf,
    /// `%LOCALAPPDATA%` on Windows (Store-installed apps live below it).
    pub local_data: Option<PathBuf>,
    /// Per-user state that is not configuration (backups of project
    /// files): `$XDG_STATE_HOME` (default `~/.local/state`) on Linux,
    /// `~/Library/Application Support` on macOS, `%LOCALAPPDATA%` on
    /// Windows.
    pub state: PathBuf,
    /// Codex's home: `$CODEX_HOME`, default `~/.codex`.
    pub codex_home: PathBuf,
    /// Claude Code's user directory (`settings.json`):
    /// `$CLAUDE_CONFIG_DIR`, default `~/.claude`.
    pub claude_config: PathBuf,
    /// The directories of `$PATH`, for finding client binaries.
    pub path: Vec<PathBuf>,
}

/// No home directory could be found.
#[derive(Debug, thiserror::Error)]
#[error("cannot find your home directory: set HOME")]
pub struct NoHome;

impl BaseDirs {
    /// Reads `HOME` (`USERPROFILE` on Windows), `XDG_CONFIG_HOME`,
    /// `XDG_STATE_HOME`, `APPDATA`, `LOCALAPPDATA`, `CODEX_HOME`,
    /// `CLAUDE_CONFIG_DIR` and `PATH`.
    pub fn from_env() -> Result<Self, NoHome> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let os = Os::current();
        let home = var("HOME")
            .or_else(|| var("USERPROFILE"))
            .or_else(dirs::home_dir)
            .ok_or(NoHome)?;
        let config = match os {
            Os::Linux => var("XDG_CONFIG_HOME")
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| home.join(".config")),
            Os::Mac => home.join("Library").join("Application Support"),
            Os::Windows => var("APPDATA").unwrap_or_else(|| home.join("AppData").join("Roaming")),
        };
        let local_data = match os {
            Os::Windows => {
                Some(var("LOCALAPPDATA").unwrap_or_else(|| home.join("AppData").join("Local")))
            }
            _ => None,
        };
        let state = match os {
            Os::Linux => var("XDG_STATE_HOME")
                .filter(|p| p.is_absolute())
                .unwrap_or_else(|| home.join(".local").join("state")),
            Os::Mac => config.clone(),
            Os::Windows => local_data
                .clone()
                .unwrap_or_else(|| home.join("AppData").join("Local")),
        };
        let codex_home = var("CODEX_HOME").unwrap_or_else(|| home.join(".codex"));
        let claude_config = var("CLAUDE_CONFIG_DIR").unwrap_or_else(|| home.join(".claude"));
        let path = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        Ok(Self {
            os,
            home,
            config,
            local_data,
            state,
            codex_home,
            claude_config,
            path,
        })
    }

    /// Where backups of project files go: `<state>/availsync/backups`.
    pub fn backups(&self) -> PathBuf {
        self.state.join("availsync").join("backups")
    }

    /// The first executable called `name` on `$PATH`.
    pub fn which(&self, name: &str) -> Option<PathBuf> {
        let names: Vec<String> = if self.os == Os::Windows {
            vec![
                format!("{name}.exe"),
                format!("{name}.cmd"),
                name.to_owned(),
            ]
        } else {
            vec![name.to_owned()]
        };
        self.path
            .iter()
            .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
            .find(|candidate| is_executable(candidate))
    }
}

/// True for a regular file this user may execute.
pub fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        true
    }
}
