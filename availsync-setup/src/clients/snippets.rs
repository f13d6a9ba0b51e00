//! The client catalogue as the server's dashboard shows it on its Setup
//! page, generated from this module's schemas so that the two cannot drift.
//!
//! Each client's `availsync` entry is written into an empty file by the
//! same code `install` uses, with placeholders for the server URL (the
//! dashboard fills in its own) and for the path of `availsync-mcp`. The
//! result is checked in as `availsync-server/src/dashboard/client_snippets.json`;
//! this test fails when it is out of date, and rewrites it with
//! `UPDATE_SNIPPETS=1 cargo test -p availsync-setup snippets`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{ClientId, ENTRY_NAME, Format, Method, Scope, ServerSpec, method};
use crate::edit::{Edited, json, toml};
use crate::paths::{BaseDirs, Os};

/// Stands for the server URL; the dashboard puts its public URL here.
const URL_PLACEHOLDER: &str = "__AVAILSYNC_URL__";
/// Stands for the absolute path of `availsync-mcp`, which only the user's
/// machine knows.
const MCP_PLACEHOLDER: &str = "/path/to/availsync-mcp";

#[derive(Serialize)]
struct Catalogue {
    generated_by: &'static str,
    url_placeholder: &'static str,
    mcp_placeholder: &'static str,
    clients: Vec<ClientSnippet>,
}

#[derive(Serialize)]
struct ClientSnippet {
    id: &'static str,
    name: &'static str,
    user_files: Vec<(&'static str, Vec<String>)>,
    project_file: Option<String>,
    language: &'static str,
    snippet: String,
    command: Option<String>,
}

/// Base directories written the way people write them in docs.
fn dirs(os: Os) -> BaseDirs {
    let (home, config, local_data) = match os {
        Os::Linux => ("~", "~/.config".to_owned(), None),
        Os::Mac => ("~", "~/Library/Application Support".to_owned(), None),
        Os::Windows => (
            "%USERPROFILE%",
            "%APPDATA%".to_owned(),
            Some(PathBuf::from("%LOCALAPPDATA%")),
        ),
    };
    BaseDirs {
        os,
        home: PathBuf::from(home),
        config: PathBuf::from(config),
        state: PathBuf::from(home).join(".local/state"),
        local_data,
        codex_home: PathBuf::from(home).join(".codex"),
        claude_config: PathBuf::from(home).join(".claude"),
        path: Vec::new(),
    }
}

fn shown(path: &Path, os: Os) -> String {
    let text = path.to_string_lossy().into_owned();
    match os {
        Os::Windows => text.replace('/', "\\"),
        _ => text,
    }
}

/// The entry in an otherwise empty file of `format`.
fn snippet(format: Format, spec: &ServerSpec) -> (&'static str, String) {
    let edited = match format {
        Format::Json { servers_key, shape } => (
            "json",
            json::upsert("", servers_key, ENTRY_NAME, &spec.json_entry(shape)),
        ),
        Format::Toml => (
            "toml",
            toml::upsert("", "mcp_servers", ENTRY_NAME, &spec.toml_entry()),
        ),
    };
    match edited {
        (language, Ok(Edited::Changed(text))) => (language, text),
        (_, other) => panic!("an empty file did not take the entry: {other:?}"),
    }
}

fn catalogue() -> Catalogue {
    let spec = ServerSpec {
        command: PathBuf::from(MCP_PLACEHOLDER),
        env: BTreeMap::from([(
            availsync_sdk::URL_ENV.to_owned(),
            URL_PLACEHOLDER.to_owned(),
        )]),
    };
    let project = Path::new(".");
    let clients = ClientId::ALL
        .iter()
        .map(|&client| {
            let mut user_files = Vec::new();
            let mut user_format = None;
            for (label, os) in [
                ("linux", Os::Linux),
                ("macos", Os::Mac),
                ("windows", Os::Windows),
            ] {
                if let Ok(Method::Files(targets)) = method(client, &dirs(os), Scope::User, project)
                {
                    user_format = user_format.or(targets.first().map(|t| t.format));
                    user_files.push((label, targets.iter().map(|t| shown(&t.path, os)).collect()));
                }
            }
            let project_target = match method(client, &dirs(Os::Linux), Scope::Project, project) {
                Ok(Method::Files(targets)) => targets.into_iter().next(),
                _ => None,
            };
            let format = user_format
                .or(project_target.as_ref().map(|t| t.format))
                .expect("every client has a file format");
            let (language, snippet) = snippet(format, &spec);
            let command = (method(client, &dirs(Os::Linux), Scope::User, project).ok()
                == Some(Method::ClaudeCli))
            .then(|| spec.claude_add_command(Scope::User));
            ClientSnippet {
                id: client.id(),
                name: client.name(),
                user_files,
                project_file: project_target.map(|t| {
                    t.path
                        .strip_prefix(project)
                        .unwrap_or(&t.path)
                        .to_string_lossy()
                        .into_owned()
                }),
                language,
                snippet,
                command,
            }
        })
        .collect();
    Catalogue {
        generated_by: "availsync-setup: UPDATE_SNIPPETS=1 cargo test -p availsync-setup snippets",
        url_placeholder: URL_PLACEHOLDER,
        mcp_placeholder: MCP_PLACEHOLDER,
        clients,
    }
}

#[test]
fn snippets_for_the_dashboard_match_the_catalogue() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../availsync-server/src/dashboard/client_snippets.json");
    let mut fresh = serde_json::to_string_pretty(&catalogue()).expect("serialises");
    fresh.push('\n');
    if std::env::var_os("UPDATE_SNIPPETS").is_some() {
        std::fs::write(&file, &fresh).expect("writes the snippets file");
        return;
    }
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "{} is out of date with the client catalogue; regenerate it with \
         UPDATE_SNIPPETS=1 cargo test -p availsync-setup snippets",
        file.display()
    );
}

#[test]
fn every_snippet_names_the_server_url_and_the_mcp_binary() {
    for client in catalogue().clients {
        assert!(client.snippet.contains(URL_PLACEHOLDER), "{}", client.id);
        assert!(client.snippet.contains(MCP_PLACEHOLDER), "{}", client.id);
        assert!(
            !client.snippet.contains("AVAILSYNC_API_KEY\":"),
            "{}: no key in snippets",
            client.id
        );
    }
}
