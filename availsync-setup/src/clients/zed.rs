//! Zed: `settings.json` (JSON with comments) in `~/.config/zed/` on Linux
//! (honouring `XDG_CONFIG_HOME`) and macOS, `%APPDATA%\Zed\` on Windows, and
//! `.zed/settings.json` in a project; servers under `context_servers`, custom
//! ones marked `"source": "custom"`.

use std::path::{Path, PathBuf};

use super::{Format, Shape, Target};
use crate::paths::{BaseDirs, Os};

const FORMAT: Format = Format::Json {
    servers_key: "context_servers",
    shape: Shape::ZedCustom,
};

/// Zed's config directory.
pub fn dir(dirs: &BaseDirs) -> PathBuf {
    match dirs.os {
        Os::Linux => dirs.config.join("zed"),
        Os::Mac => dirs.home.join(".config").join("zed"),
        Os::Windows => dirs.config.join("Zed"),
    }
}

/// The user settings file.
pub fn user(dirs: &BaseDirs) -> Target {
    Target {
        path: dir(dirs).join("settings.json"),
        format: FORMAT,
    }
}

/// The project settings file.
pub fn project(project: &Path) -> Target {
    Target {
        path: project.join(".zed").join("settings.json"),
        format: FORMAT,
    }
}
