//! `availsync-setup detect`: where the agent key comes from, and for each
//! client the evidence that it is installed, its configuration files, and
//! whether the `availsync` entry in them can start.

use serde::Serialize;

use crate::clients::{self, ClientId};
use crate::exit;
use crate::key_source::{KeyState, Source};
use crate::output::{self, Style};
use crate::paths::BaseDirs;
use crate::plan::{self, EmbeddedKey, Entry};

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
    /// Whether it has an `availsync` entry, ready or not.
    pub entry: bool,
    /// The program the entry runs, if it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The server URL the entry names in its environment, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The key the entry carries in its environment (never printed).
    #[serde(skip)]
    pub key: Option<EmbeddedKey>,
    /// The entry is there and can start: its program exists and a key is
    /// reachable.
    pub configured: bool,
    /// What the entry lacks to start, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Missing>,
    /// Why it could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why an `availsync` entry cannot start. Serialised as its sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    /// The entry names no program.
    NoProgram,
    /// The program it names does not exist.
    ProgramAbsent(String),
    /// The program it names is not an executable file.
    NotExecutable(String),
    /// No key is in the entry and none is known on this machine.
    NoKey,
}

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoProgram => f.write_str("the entry names no program to run"),
            Self::ProgramAbsent(command) => write!(
                f,
                "its program {command} does not exist (run `availsync-setup install` again, or pass --mcp-path)"
            ),
            Self::NotExecutable(command) => {
                write!(f, "its program {command} is not an executable file")
            }
            Self::NoKey => f.write_str(
                "no key reaches it: none is in the entry and none is stored (run `availsync-setup login`)",
            ),
        }
    }
}

impl Serialize for Missing {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
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
    /// At least one file has an entry that can start.
    pub configured: bool,
}

/// What `detect` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Where the agent key comes from (never the key).
    pub credentials: KeyState,
    /// Every client.
    pub clients: Vec<Detected>,
}

/// What an entry lacks to start: its program, or any key.
pub fn missing(entry: &Entry, keys: &KeyState) -> Vec<Missing> {
    let mut missing = Vec::new();
    match entry.command.as_deref().filter(|c| !c.is_empty()) {
        None => missing.push(Missing::NoProgram),
        Some(command) => {
            let path = std::path::Path::new(command);
            if !path.exists() {
                missing.push(Missing::ProgramAbsent(command.to_owned()));
            } else if !crate::paths::is_executable(path) {
                missing.push(Missing::NotExecutable(command.to_owned()));
            }
        }
    }
    if !entry.embeds_key() && keys.source == Source::None {
        missing.push(Missing::NoKey);
    }
    missing
}

/// Inspects every client.
pub fn detect_all(dirs: &BaseDirs, keys: &KeyState) -> Vec<Detected> {
    ClientId::ALL
        .iter()
        .map(|&client| {
            let evidence = clients::evidence(client, dirs);
            let files: Vec<FileState> = clients::user_targets(client, dirs)
                .iter()
                .map(|target| {
                    let exists = target.path.exists();
                    let path = target.path.display().to_string();
                    match plan::entry(target) {
                        Ok(Some(entry)) => {
                            let missing = missing(&entry, keys);
                            FileState {
                                path,
                                exists,
                                entry: true,
                                command: entry.command,
                                url: entry.url,
                                key: entry.key,
                                configured: missing.is_empty(),
                                missing,
                                error: None,
                            }
                        }
                        Ok(None) => FileState {
                            path,
                            exists,
                            entry: false,
                            command: None,
                            url: None,
                            key: None,
                            configured: false,
                            missing: Vec::new(),
                            error: None,
                        },
                        Err(e) => FileState {
                            path,
                            exists,
                            entry: false,
                            command: None,
                            url: None,
                            key: None,
                            configured: false,
                            missing: Vec::new(),
                            error: Some(e),
                        },
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
    let keys = KeyState::from_env();
    let report = Report {
        clients: detect_all(&dirs, &keys),
        credentials: keys,
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("availsync-setup: {e}");
                return exit::SOFTWARE;
            }
        }
        return 0;
    }
    let style = Style::stdout();
    println!(
        "{} {}",
        style.bold("credentials:"),
        report.credentials.describe()
    );
    if report.credentials.source == Source::None {
        output::warn("no credentials stored; run `availsync-setup login`");
    }
    for d in &report.clients {
        let broken = d.files.iter().find(|f| f.entry && !f.configured);
        let state = match (d.configured, broken) {
            (true, _) => style.good("configured"),
            (false, Some(file)) => style.bad(&format!(
                "has an availsync entry that cannot start: {}",
                file.missing
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
            (false, None) if d.installed => style.warn("detected, not configured"),
            (false, None) => style.dim("not detected"),
        };
        println!("{} ({}): {state}", style.bold(d.name), d.client.id());
        for e in &d.evidence {
            println!("    found {e}");
        }
        for f in &d.files {
            let note = match (&f.error, f.exists, f.entry, f.configured) {
                (Some(e), ..) => style.bad(&format!("unreadable: {e}")),
                (None, false, ..) => "absent".to_owned(),
                (None, true, true, true) => "has availsync".to_owned(),
                (None, true, true, false) => "has availsync, which cannot start".to_owned(),
                (None, true, false, _) => "no availsync entry".to_owned(),
            };
            println!("    config {} ({note})", f.path);
        }
    }
    0
}
