//! `availsync-setup detect`: for each client, the evidence that it is
//! installed, its configuration files and whether Availsync is in them.

use serde::Serialize;

use crate::clients::{self, ClientId};
use crate::exit;
use crate::output::Style;
use crate::paths::BaseDirs;
use crate::plan;

/// Arguments of `detect`.
#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One configuration file's state.
#[derive(Debug, Clone, Serialize)]
pub struct FileState {
    /// Absolute path.
    pub path: String,
    /// Whether it exists.
    pub exists: bool,
    /// Whether it has the `availsync` entry.
    pub configured: bool,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One client's state.
#[derive(Debug, Clone, Serialize)]
pub struct Detected {
    /// The client id.
    pub client: ClientId,
    /// Its name.
    pub name: &'static str,
    /// Signs that it is installed.
    pub evidence: Vec<String>,
    /// True when there is any evidence.
    pub installed: bool,
    /// Its user-scope configuration files.
    pub files: Vec<FileState>,
    /// Availsync is configured in at least one file.
    pub configured: bool,
}

/// Inspects every client.
pub fn detect_all(dirs: &BaseDirs) -> Vec<Detected> {
    ClientId::ALL
        .iter()
        .map(|&client| {
            let evidence = clients::evidence(client, dirs);
            let files: Vec<FileState> = clients::user_targets(client, dirs)
                .iter()
                .map(|target| {
                    let state = plan::configured(target);
                    FileState {
                        path: target.path.display().to_string(),
                        exists: target.path.exists(),
                        configured: state.as_ref().is_ok_and(|c| *c),
                        error: state.err(),
                    }
                })
                .collect();
            Detected {
                client,
                name: client.name(),
                installed: !evidence.is_empty(),
                configured: files.iter().any(|f| f.configured),
                evidence,
                files,
            }
        })
        .collect()
}

/// Runs `detect`.
pub fn run(args: DetectArgs) -> u8 {
    let dirs = match BaseDirs::from_env() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("availsync-setup: {e}");
            return exit::CONFIG;
        }
    };
    let found = detect_all(&dirs);
    if args.json {
        match serde_json::to_string_pretty(&found) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("availsync-setup: {e}");
                return exit::SOFTWARE;
            }
        }
        return 0;
    }
    let style = Style::stdout();
    for d in &found {
        let state = if d.configured {
            style.good("configured")
        } else if d.installed {
            style.warn("detected, not configured")
        } else {
            style.dim("not detected")
        };
        println!("{} ({}): {state}", style.bold(d.name), d.client.id());
        for e in &d.evidence {
            println!("    found {e}");
        }
        for f in &d.files {
            let note = match (&f.error, f.exists, f.configured) {
                (Some(e), _, _) => style.bad(&format!("unreadable: {e}")),
                (None, false, _) => "absent".to_owned(),
                (None, true, true) => "has availsync".to_owned(),
                (None, true, false) => "no availsync entry".to_owned(),
            };
            println!("    config {} ({note})", f.path);
        }
    }
    0
}
