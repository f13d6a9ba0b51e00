//! Claude Desktop: `claude_desktop_config.json`, servers under `mcpServers`.
//! macOS `~/Library/Application Support/Claude/`; Windows `%APPDATA%\Claude\`
//! (direct installer) and, for the Microsoft Store (MSIX) build,
//! `%LOCALAPPDATA%\Packages\Claude_<id>\LocalCache\Roaming\Claude\`. There is
//! no official Linux build; community builds use `~/.config/Claude/`.

use std::path::PathBuf;

use super::{Format, Shape, Target};
use crate::paths::{BaseDirs, Os};

const FILE: &str = "claude_desktop_config.json";

/// The app's data directories that exist or are the default.
pub fn app_dirs(dirs: &BaseDirs) -> Vec<PathBuf> {
    let mut found = vec![dirs.config.join("Claude")];
    if dirs.os == Os::Windows
        && let Some(local) = &dirs.local_data
        && let Ok(entries) = std::fs::read_dir(local.join("Packages"))
    {
        let mut store: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("Claude_"))
            .map(|e| e.path().join("LocalCache").join("Roaming").join("Claude"))
            .collect();
        store.sort();
        found.extend(store);
    }
    found
}

/// The config file of each install: the default location, plus each Store
/// install's.
pub fn user(dirs: &BaseDirs) -> Vec<Target> {
    let all = app_dirs(dirs);
    let (default, store) = all.split_at(1);
    default
        .iter()
        .chain(store.iter().filter(|d| d.is_dir()))
        .map(|dir| Target {
            path: dir.join(FILE),
            format: Format::Json {
                servers_key: "mcpServers",
                shape: Shape::Plain,
            },
        })
        .collect()
}
