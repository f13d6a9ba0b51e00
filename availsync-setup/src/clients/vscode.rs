//! VS Code: the user profile's `mcp.json` (`Code/User/mcp.json` under the
//! config directory: `~/.config` on Linux, `~/Library/Application Support`
//! on macOS, `%APPDATA%` on Windows) and `.vscode/mcp.json` in a workspace;
//! JSON with comments, servers under `servers` with `"type": "stdio"`.

use std::path::{Path, PathBuf};

use super::{Format, Shape, Target};
use crate::paths::BaseDirs;

const FORMAT: Format = Format::Json {
    servers_key: "servers",
    shape: Shape::TypedStdio,
};

/// `…/Code`.
pub fn editor_dir(dirs: &BaseDirs) -> PathBuf {
    dirs.config.join("Code")
}

/// The user file.
pub fn user(dirs: &BaseDirs) -> Target {
    Target {
        path: editor_dir(dirs).join("User").join("mcp.json"),
        format: FORMAT,
    }
}

/// The workspace file.
pub fn project(project: &Path) -> Target {
    Target {
        path: project.join(".vscode").join("mcp.json"),
        format: FORMAT,
    }
}
