//! Cline (extension `saoudrizwan.claude-dev`): `cline_mcp_settings.json` in
//! the extension's global storage, under each VS Code-family editor's
//! `User/globalStorage/saoudrizwan.claude-dev/settings/`; servers under
//! `mcpServers`, with Cline's `disabled` flag.

use std::path::PathBuf;

use super::{Format, Shape, Target};
use crate::paths::BaseDirs;

const EDITORS: [&str; 5] = ["Code", "Code - Insiders", "VSCodium", "Cursor", "Windsurf"];

/// The extension's storage directory under each editor.
pub fn extension_dirs(dirs: &BaseDirs) -> Vec<PathBuf> {
    EDITORS
        .iter()
        .map(|editor| {
            dirs.config
                .join(editor)
                .join("User")
                .join("globalStorage")
                .join("saoudrizwan.claude-dev")
        })
        .collect()
}

/// The settings file under each editor where Cline is installed; VS Code's
/// when it is installed nowhere yet.
pub fn user(dirs: &BaseDirs) -> Vec<Target> {
    let all = extension_dirs(dirs);
    let installed: Vec<PathBuf> = all.iter().filter(|d| d.is_dir()).cloned().collect();
    let chosen = if installed.is_empty() {
        all.into_iter().take(1).collect()
    } else {
        installed
    };
    chosen
        .into_iter()
        .map(|dir| Target {
            path: dir.join("settings").join("cline_mcp_settings.json"),
            format: Format::Json {
                servers_key: "mcpServers",
                shape: Shape::Cline,
            },
        })
        .collect()
}
