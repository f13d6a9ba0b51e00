//! Codex CLI: `$CODEX_HOME/config.toml` (default `~/.codex/config.toml`), and
//! `.codex/config.toml` in a trusted project; a `[mcp_servers.availsync]`
//! table with `command`, `args`, `env` and `env_vars`.

use std::path::Path;

use super::{Format, Target};
use crate::paths::BaseDirs;

/// The user file.
pub fn user(dirs: &BaseDirs) -> Target {
    Target {
        path: dirs.codex_home.join("config.toml"),
        format: Format::Toml,
    }
}

/// The project file.
pub fn project(project: &Path) -> Target {
    Target {
        path: project.join(".codex").join("config.toml"),
        format: Format::Toml,
    }
}
