//! A plan of file changes: computed without writing, shown as unified diffs,
//! then applied with a backup and an atomic replace per file.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::clients::hooks::{self, HookSpec, HookTarget};
use crate::clients::{ClientId, ENTRY_NAME, Format, ServerSpec, Target};
use crate::edit::backups::Backups;
use crate::edit::{self, EditError, Edited, fsio};

/// What will happen (or happened) to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A new file.
    Create,
    /// The entry is added or replaced.
    Update,
    /// The entry is removed.
    Remove,
    /// Already as wanted: nothing is written.
    Unchanged,
    /// The file could not be edited and is left untouched.
    Refused,
}

/// One file's change.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The client it configures.
    pub client: ClientId,
    /// Absolute path.
    pub path: PathBuf,
    /// What happens.
    pub status: Status,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The backup written before the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<PathBuf>,
    /// When `path` is a symbolic link: the file it points to, which is the
    /// one written (the link stays).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<PathBuf>,
    /// The unified diff, with keys masked.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub diff: String,
    #[serde(skip)]
    before: Option<String>,
    #[serde(skip)]
    after: Option<String>,
}

impl Change {
    fn refused(client: ClientId, path: &Path, error: impl std::fmt::Display) -> Self {
        Self {
            client,
            path: path.to_owned(),
            status: Status::Refused,
            error: Some(error.to_string()),
            backup: None,
            link_target: None,
            diff: String::new(),
            before: None,
            after: None,
        }
    }

    fn from_edit(
        client: ClientId,
        path: &Path,
        before: Option<String>,
        edited: Result<Edited, EditError>,
        changed: Status,
    ) -> Self {
        match edited {
            Err(e) => Self::refused(client, path, format!("{}: {e}", path.display())),
            Ok(Edited::Unchanged) => Self {
                client,
                path: path.to_owned(),
                status: Status::Unchanged,
                error: None,
                backup: None,
                link_target: None,
                diff: String::new(),
                before,
                after: None,
            },
            Ok(Edited::Changed(after)) => {
                let old = before.clone().unwrap_or_default();
                let label = path.display().to_string();
                let diff = similar::TextDiff::from_lines(&old, &after)
                    .unified_diff()
                    .context_radius(3)
                    .header(
                        &if before.is_some() {
                            label.clone()
                        } else {
                            "/dev/null".to_owned()
                        },
                        &label,
                    )
                    .to_string();
                Self {
                    link_target: None,
                    client,
                    path: path.to_owned(),
                    status: if before.is_none() {
                        Status::Create
                    } else {
                        changed
                    },
                    error: None,
                    backup: None,
                    diff: crate::redact::secrets(&diff),
                    before,
                    after: Some(after),
                }
            }
        }
    }

    /// Notes that `path` is a link to `target` (when it is one).
    fn through_link(mut self, target: PathBuf) -> Self {
        if target != self.path {
            self.link_target = Some(target);
        }
        self
    }

    /// This change followed by `edit` of its result (or of the file as it
    /// is, when this change leaves it alone): one change, one diff, one
    /// write.
    fn and_then(
        self,
        status: Status,
        edit: impl FnOnce(&str) -> Result<Edited, EditError>,
    ) -> Self {
        if self.status == Status::Refused {
            return self;
        }
        let base = self
            .after
            .as_deref()
            .or(self.before.as_deref())
            .unwrap_or("");
        match edit(base) {
            Ok(Edited::Unchanged) => self,
            edited => {
                let status = match self.status {
                    Status::Unchanged => status,
                    earlier => earlier,
                };
                let link_target = self.link_target.clone();
                let mut change =
                    Self::from_edit(self.client, &self.path, self.before, edited, status);
                change.link_target = link_target;
                change
            }
        }
    }

    /// True when applying writes something.
    pub fn writes(&self) -> bool {
        self.after.is_some() && self.status != Status::Refused
    }
}

/// The change that puts our entry into `target`.
pub fn install(client: ClientId, target: &Target, spec: &ServerSpec) -> Change {
    let written = match fsio::write_target(&target.path) {
        Ok(written) => written,
        Err(e) => return Change::refused(client, &target.path, e),
    };
    let before = match fsio::read(&target.path) {
        Ok(before) => before,
        Err(e) => return Change::refused(client, &target.path, e),
    };
    let text = before.as_deref().unwrap_or("");
    let edited = match target.format {
        Format::Json { servers_key, shape } => {
            edit::json::upsert(text, servers_key, ENTRY_NAME, &spec.json_entry(shape))
        }
        Format::Toml => edit::toml::upsert(text, "mcp_servers", ENTRY_NAME, &spec.toml_entry()),
    };
    Change::from_edit(client, &target.path, before, edited, Status::Update).through_link(written)
}

/// The change that takes our entry out of `target`.
pub fn remove(client: ClientId, target: &Target) -> Change {
    let before = match fsio::read(&target.path) {
        Ok(Some(before)) => before,
        Ok(None) => {
            return Change::from_edit(
                client,
                &target.path,
                None,
                Ok(Edited::Unchanged),
                Status::Remove,
            );
        }
        Err(e) => return Change::refused(client, &target.path, e),
    };
    let written = match fsio::write_target(&target.path) {
        Ok(written) => written,
        Err(e) => return Change::refused(client, &target.path, e),
    };
    let edited = match target.format {
        Format::Json { servers_key, .. } => edit::json::remove(&before, servers_key, ENTRY_NAME),
        Format::Toml => edit::toml::remove(&before, "mcp_servers", ENTRY_NAME),
    };
    Change::from_edit(client, &target.path, Some(before), edited, Status::Remove)
        .through_link(written)
}

/// The change that puts the edit hook into `target`, on top of `prior`
/// when that is a change already planned for the same file (Gemini CLI
/// keeps its MCP servers and its hooks in one `settings.json`).
pub fn install_hooks(
    client: ClientId,
    target: &HookTarget,
    spec: &HookSpec,
    prior: Option<Change>,
) -> Change {
    let entries = spec.entries(target.client);
    edit_hooks(client, &target.path, prior, Status::Update, |text| {
        edit::hooks::upsert(text, &entries, hooks::is_ours)
    })
}

/// The change that takes the edit hook out of `target` (on top of
/// `prior`, as [`install_hooks`]).
pub fn remove_hooks(client: ClientId, target: &HookTarget, prior: Option<Change>) -> Change {
    edit_hooks(client, &target.path, prior, Status::Remove, |text| {
        edit::hooks::remove(text, hooks::is_ours)
    })
}

fn edit_hooks(
    client: ClientId,
    path: &Path,
    prior: Option<Change>,
    status: Status,
    edit: impl FnOnce(&str) -> Result<Edited, EditError>,
) -> Change {
    if let Some(prior) = prior {
        return prior.and_then(status, edit);
    }
    let before = match fsio::read(path) {
        Ok(before) => before,
        Err(e) => return Change::refused(client, path, e),
    };
    if before.is_none() && status == Status::Remove {
        return Change::from_edit(client, path, None, Ok(Edited::Unchanged), status);
    }
    let written = match fsio::write_target(path) {
        Ok(written) => written,
        Err(e) => return Change::refused(client, path, e),
    };
    let edited = edit(before.as_deref().unwrap_or(""));
    Change::from_edit(client, path, before, edited, status).through_link(written)
}

/// An agent key written into a client's entry. Shown only masked, even in
/// debug output.
#[derive(Clone, PartialEq, Eq)]
pub struct EmbeddedKey(String);

impl EmbeddedKey {
    /// The key itself, to compare or to send; never to print.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for EmbeddedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::redact::mask(&self.0))
    }
}

/// Our entry as found in a file: what `detect` needs to tell whether it
/// can start, and `doctor` which server and key it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The program it runs.
    pub command: Option<String>,
    /// The key in its environment, if it carries one.
    pub key: Option<EmbeddedKey>,
    /// The server URL in its environment (`AVAILSYNC_URL`, else
    /// `AVAILSYNC_API_URL`), if it names one.
    pub url: Option<String>,
}

impl Entry {
    /// Whether its environment carries a key.
    pub fn embeds_key(&self) -> bool {
        self.key.is_some()
    }
}

/// The non-blank value of `name` among `vars`.
fn env_value<'a>(mut lookup: impl FnMut(&str) -> Option<&'a str>, name: &str) -> Option<String> {
    lookup(name)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The URL an entry's environment names, as `availsync-mcp` reads it.
fn env_url<'a>(mut lookup: impl FnMut(&str) -> Option<&'a str>) -> Option<String> {
    env_value(&mut lookup, availsync_sdk::URL_ENV)
        .or_else(|| env_value(&mut lookup, availsync_sdk::URL_ENV_ALIAS))
}

/// Our entry in `target`, if there is one.
pub fn entry(target: &Target) -> Result<Option<Entry>, String> {
    let text = match fsio::read(&target.path) {
        Ok(Some(text)) => text,
        Ok(None) => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    match target.format {
        Format::Json { servers_key, .. } => edit::json::get(&text, servers_key, ENTRY_NAME)
            .map(|found| {
                found.map(|value| {
                    let env = &value["env"];
                    Entry {
                        command: value["command"].as_str().map(str::to_owned),
                        key: env_value(|name| env[name].as_str(), availsync_sdk::API_KEY_ENV)
                            .map(EmbeddedKey),
                        url: env_url(|name| env[name].as_str()),
                    }
                })
            })
            .map_err(|e| e.to_string()),
        Format::Toml => edit::toml::get(&text, "mcp_servers", ENTRY_NAME)
            .map(|found| {
                found.map(|entry| {
                    let env = &entry.env;
                    let lookup =
                        |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
                    Entry {
                        key: env_value(lookup, availsync_sdk::API_KEY_ENV).map(EmbeddedKey),
                        url: env_url(lookup),
                        command: Some(entry.command.clone()).filter(|c| !c.is_empty()),
                    }
                })
            })
            .map_err(|e| e.to_string()),
    }
}

/// Writes the change: a backup first when the file exists, then an atomic
/// replace (through a symbolic link, which stays). `private` makes new
/// files 0600 (an embedded key).
pub fn apply(change: &mut Change, private: bool, backups: &Backups) -> Result<(), fsio::FsError> {
    let Some(after) = change.after.as_deref().filter(|_| change.writes()) else {
        return Ok(());
    };
    if change.before.is_some() {
        change.backup = backups.save(&change.path)?;
    }
    fsio::write_atomic(&change.path, after, private)
}
