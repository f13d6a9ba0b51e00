//! Realistic existing configs for every client: install, idempotence,
//! remove, refusal of broken files, dry runs, backups and permissions.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::{Home, text};

const KEY: &str = "avs_live_supersecretkey";

struct Fixture {
    client: &'static str,
    path: PathBuf,
    original: &'static str,
}

fn fixtures(home: &Home) -> Vec<Fixture> {
    let h = home.home();
    let c = home.config();
    vec![
        Fixture {
            client: "cursor",
            path: h.join(".cursor/mcp.json"),
            original: "{\n\t\"mcpServers\": {\n\t\t\"github\": {\"command\": \"docker\", \"args\": [\"run\", \"-i\", \"ghcr.io/github/github-mcp-server\"],\n\t\t\t\"env\": {\"GITHUB_PERSONAL_ACCESS_TOKEN\": \"${env:GH}\"}}\n\t},\n\t\"someFutureKey\": [1, 2, 3]\n}\n",
        },
        Fixture {
            client: "windsurf",
            path: h.join(".codeium/windsurf/mcp_config.json"),
            original: "{\n  \"mcpServers\": {\n    \"ollama\": {\n      \"command\": \"py\",\n      \"args\": [\"-m\", \"mcp_ollama_python\"],\n      \"disabled\": false,\n      \"env\": {}\n    },\n    \"remote\": { \"serverUrl\": \"https://example.com/mcp\" }\n  }\n}\n",
        },
        Fixture {
            client: "codex",
            path: h.join(".codex/config.toml"),
            original: "# Codex settings\nmodel = \"o3\"   # the good one\napproval_policy = \"on-request\"\n\n[mcp_servers.docs]\ncommand = \"npx\"\nargs = [\"-y\", \"docs-mcp\"]  # pinned\nenv = { \"DOCS_TOKEN\" = \"x\" }\n\n[profiles.fast]\nmodel = \"mini\"\n",
        },
        Fixture {
            client: "claude-desktop",
            path: c.join("Claude/claude_desktop_config.json"),
            original: "{\"mcpServers\":{\"filesystem\":{\"command\":\"npx\",\"args\":[\"-y\",\"@modelcontextprotocol/server-filesystem\",\"/tmp\"]}},\"globalShortcut\":\"Ctrl+Space\"}\n",
        },
        Fixture {
            client: "vscode",
            path: c.join("Code/User/mcp.json"),
            original: "{\n  // Inputs are prompted on first server start\n  \"inputs\": [\n    { \"type\": \"promptString\", \"id\": \"token\", \"password\": true }\n  ],\n  \"servers\": {\n    /* the memory server */\n    \"memory\": {\n      \"type\": \"stdio\",\n      \"command\": \"npx\",\n      \"args\": [\"-y\", \"@modelcontextprotocol/server-memory\"],\n    },\n  },\n}\n",
        },
        Fixture {
            client: "zed",
            path: c.join("zed/settings.json"),
            original: "// Zed settings\n//\n// For information on how to configure Zed, see the Zed\n// documentation: https://zed.dev/docs/configuring-zed\n{\n  \"theme\": \"One Dark\",\n  \"ui_font_size\": 16,\n  \"context_servers\": {\n    \"postgres\": {\n      \"source\": \"custom\",\n      \"command\": \"pg-mcp\", // local build\n      \"args\": [],\n      \"env\": {}\n    }\n  },\n  \"vim_mode\": true,\n}\n",
        },
        Fixture {
            client: "gemini",
            path: h.join(".gemini/settings.json"),
            original: "{\n  \"theme\": \"GitHub\",\n  // trusted servers only\n  \"mcpServers\": {\n    \"pythonTools\": {\n      \"command\": \"python\",\n      \"args\": [\"-m\", \"my_mcp_server\"],\n      \"cwd\": \"./mcp-servers/python\",\n      \"timeout\": 15000,\n      \"trust\": false\n    }\n  },\n  \"mcp\": { \"allowed\": [\"pythonTools\"] }\n}\n",
        },
        Fixture {
            client: "cline",
            path: c.join(
                "Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
            ),
            original: "{\n  \"mcpServers\": {\n    \"git\": {\n      \"command\": \"uvx\",\n      \"args\": [\"mcp-server-git\", \"--repository\", \"/path/to/repo\"],\n      \"disabled\": false,\n      \"alwaysAllow\": [],\n      \"networkTimeout\": 60000\n    }\n  }\n}\n",
        },
    ]
}

fn parse_json(text: &str) -> Value {
    jsonc_parser::cst::CstRootNode::parse(text, &Default::default())
        .unwrap()
        .to_serde_value()
        .unwrap()
}

fn entry_of(client: &str, text: &str) -> Value {
    match client {
        "codex" => {
            let doc: toml_edit::DocumentMut = text.parse().unwrap();
            let t = doc["mcp_servers"]["availsync"].as_table().unwrap();
            json!({
                "command": t["command"].as_str().unwrap(),
                "args": t["args"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect::<Vec<_>>(),
                "env": t["env"].as_inline_table().unwrap().iter().map(|(k, v)| (k.to_owned(), json!(v.as_str().unwrap()))).collect::<serde_json::Map<_, _>>(),
                "env_vars": t["env_vars"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect::<Vec<_>>(),
            })
        }
        _ => {
            let key = servers_key(client);
            parse_json(text)[key]["availsync"].clone()
        }
    }
}

fn servers_key(client: &str) -> &'static str {
    match client {
        "vscode" => "servers",
        "zed" => "context_servers",
        _ => "mcpServers",
    }
}

fn expected(client: &str, home: &Home, url: &str) -> Value {
    let command = home.mcp().display().to_string();
    let env = json!({"AVAILSYNC_URL": url});
    match client {
        "codex" => {
            json!({"command": command, "args": [], "env": env, "env_vars": ["AVAILSYNC_API_KEY", "AVAILSYNC_CREDENTIALS_FILE"]})
        }
        "vscode" => json!({"type": "stdio", "command": command, "args": [], "env": env}),
        "zed" => json!({"source": "custom", "command": command, "args": [], "env": env}),
        "cline" => json!({"command": command, "args": [], "env": env, "disabled": false}),
        _ => json!({"command": command, "args": [], "env": env}),
    }
}

/// Everything but our entry, parsed.
fn others(client: &str, text: &str) -> Value {
    if client == "codex" {
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        doc["mcp_servers"]
            .as_table_mut()
            .unwrap()
            .remove("availsync");
        return json!(
            doc.to_string()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect::<Vec<_>>()
        );
    }
    let mut value = parse_json(text);
    value[servers_key(client)]
        .as_object_mut()
        .unwrap()
        .remove("availsync");
    value
}

fn comments(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            l.find("//")
                .or_else(|| l.find("/*"))
                .or_else(|| l.find('#'))
                .map(|i| l[i..].to_owned())
        })
        .collect()
}

fn install_args(clients: &[&str]) -> Vec<String> {
    let mut args = vec![
        "install".to_owned(),
        "--yes".to_owned(),
        "--json".to_owned(),
    ];
    for c in clients {
        args.push("--client".into());
        args.push((*c).to_owned());
    }
    args
}

fn backups(fixture: &Fixture) -> Vec<PathBuf> {
    let name = fixture
        .path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::fs::read_dir(fixture.path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(&format!("{name}.availsync-backup-"))
        })
        .collect()
}

#[test]
fn install_keeps_every_other_byte_is_idempotent_and_remove_restores() {
    let home = Home::new();
    let all = fixtures(&home);
    for f in &all {
        home.write(&f.path, f.original);
    }
    // One file is private: its mode must survive.
    let private = &all[0].path;
    std::fs::set_permissions(private, std::fs::Permissions::from_mode(0o600)).unwrap();
    let clients: Vec<&str> = all.iter().map(|f| f.client).collect();
    let args = install_args(&clients);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let mut first = home.command(&args);
    first
        .env("AVAILSYNC_URL", "http://127.0.0.1:9999")
        .env("AVAILSYNC_API_KEY", KEY);
    let out = first.output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = report["changes"].as_array().unwrap();
    assert_eq!(changes.len(), all.len(), "{report}");
    for f in &all {
        let after = std::fs::read_to_string(&f.path).unwrap();
        assert!(
            !after.contains(KEY),
            "{}: the key leaked into {}",
            f.client,
            f.path.display()
        );
        assert_eq!(
            entry_of(f.client, &after),
            expected(f.client, &home, "http://127.0.0.1:9999"),
            "{}:\n{after}",
            f.client
        );
        assert_eq!(
            others(f.client, &after),
            others(f.client, f.original),
            "{}:\n{after}",
            f.client
        );
        for comment in comments(f.original) {
            assert!(
                after.contains(&comment),
                "{}: lost comment {comment:?}:\n{after}",
                f.client
            );
        }
        let change = changes
            .iter()
            .find(|c| c["path"] == json!(f.path.display().to_string()))
            .unwrap();
        assert_eq!(change["status"], "update", "{change}");
        let saved = backups(f);
        assert_eq!(saved.len(), 1, "{}", f.client);
        assert_eq!(std::fs::read_to_string(&saved[0]).unwrap(), f.original);
        assert!(text(&out).contains(&f.path.display().to_string()));
    }
    assert_eq!(
        std::fs::metadata(private).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A second run changes nothing and writes nothing.
    let snapshot: Vec<String> = all
        .iter()
        .map(|f| std::fs::read_to_string(&f.path).unwrap())
        .collect();
    let out = home
        .command(&args)
        .env("AVAILSYNC_URL", "http://127.0.0.1:9999")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    for change in report["changes"].as_array().unwrap() {
        assert_eq!(change["status"], "unchanged", "{change}");
    }
    for (f, before) in all.iter().zip(&snapshot) {
        assert_eq!(&std::fs::read_to_string(&f.path).unwrap(), before);
        assert_eq!(backups(f).len(), 1, "{}: a no-op made a backup", f.client);
    }

    // Remove takes out only our entry.
    let mut remove = vec!["remove"];
    for c in &clients {
        remove.extend(["--client", c]);
    }
    let out = home.run(&remove);
    assert!(out.status.success(), "{}", text(&out));
    for f in &all {
        let after = std::fs::read_to_string(&f.path).unwrap();
        assert_eq!(
            others(f.client, &after),
            others(f.client, f.original),
            "{}:\n{after}",
            f.client
        );
        assert!(!after.contains("availsync"), "{}:\n{after}", f.client);
        // The one-line (minified) file: adding our entry opens the servers
        // object onto several lines, and remove leaves it so; every value and
        // the rest of the line are kept (checked above).
        if f.client != "claude-desktop" {
            assert_eq!(
                after, f.original,
                "{}: remove did not restore the file byte for byte",
                f.client
            );
        }
        for comment in comments(f.original) {
            assert!(
                after.contains(&comment),
                "{}: lost comment {comment:?}:\n{after}",
                f.client
            );
        }
    }
}

#[test]
fn a_broken_file_is_refused_untouched_with_line_and_column() {
    let home = Home::new();
    let path = home.home().join(".cursor/mcp.json");
    let broken = "{\n  \"mcpServers\": {\n    \"a\": { \"command\": \"x\" }\n    \"b\": 1\n}\n";
    home.write(&path, broken);
    let toml_path = home.home().join(".codex/config.toml");
    home.write(&toml_path, "model = \"o3\"\n[mcp_servers\n");
    let out = home.run(&[
        "install", "--yes", "--client", "cursor", "--client", "codex",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(all.contains("line 3, column 28"), "{all}");
    assert!(all.contains("line 2"), "{all}");
    assert!(all.contains("left untouched"), "{all}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1,
        "no backup, no temp file"
    );
}

#[test]
fn dry_run_prints_diffs_and_writes_nothing() {
    let home = Home::new();
    let all = fixtures(&home);
    let f = &all[4]; // vscode
    home.write(&f.path, f.original);
    let out = home.run(&[
        "install",
        "--dry-run",
        "--client",
        "vscode",
        "--client",
        "gemini",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("--- {}", f.path.display())),
        "{stdout}"
    );
    assert!(stdout.contains("+    \"availsync\": {"), "{stdout}");
    assert!(
        stdout.contains("--- /dev/null"),
        "a new file diffs against /dev/null: {stdout}"
    );
    assert!(stdout.contains("nothing written"));
    assert_eq!(std::fs::read_to_string(&f.path).unwrap(), f.original);
    assert!(!home.home().join(".gemini").exists());
    assert_eq!(backups(f).len(), 0);
}

#[test]
fn without_a_terminal_install_needs_yes() {
    let home = Home::new();
    let out = home.run(&["install", "--client", "cursor"]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert!(text(&out).contains("--yes"));
    assert!(!home.home().join(".cursor/mcp.json").exists());
}

#[test]
fn new_files_are_created_and_embed_key_warns() {
    let home = Home::new();
    let out = home
        .command(&["install", "--yes", "--embed-key", "--client", "windsurf"])
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("warning: --embed-key"),
        "{}",
        text(&out)
    );
    let path = home.home().join(".codeium/windsurf/mcp_config.json");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        parse_json(&written)["mcpServers"]["availsync"]["env"]["AVAILSYNC_API_KEY"],
        KEY
    );
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(KEY),
        "the key is never printed"
    );
}

#[test]
fn claude_code_goes_through_its_cli_and_project_scope_writes_mcp_json() {
    let home = Home::new();
    let log = home.root().join("claude.log");
    home.script(
        "claude",
        &format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> {}; done\necho --- >> {}\n",
            log.display(),
            log.display()
        ),
    );
    let claude_json = home.home().join(".claude.json");
    home.write(&claude_json, "{\"numStartups\": 3}\n");
    let out = home.run(&["install", "--yes", "--client", "claude-code"]);
    assert!(out.status.success(), "{}", text(&out));
    let calls = std::fs::read_to_string(&log).unwrap();
    let add = calls
        .split("---\n")
        .find(|c| c.starts_with("mcp\nadd-json"))
        .unwrap();
    let lines: Vec<&str> = add.lines().collect();
    assert_eq!(
        &lines[..5],
        ["mcp", "add-json", "--scope", "user", "availsync"]
    );
    let entry: Value = serde_json::from_str(lines[5]).unwrap();
    assert_eq!(
        entry,
        json!({"type": "stdio", "command": home.mcp().display().to_string(), "args": [], "env": {"AVAILSYNC_URL": "http://127.0.0.1:8787"}})
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "claude mcp add --scope user --env AVAILSYNC_URL=http://127.0.0.1:8787 availsync -- {}",
            home.mcp().display()
        )),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&claude_json).unwrap(),
        "{\"numStartups\": 3}\n"
    );

    let out = home.run(&[
        "install",
        "--yes",
        "--client",
        "claude-code",
        "--scope",
        "project",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let project = std::fs::read_to_string(home.project().join(".mcp.json")).unwrap();
    assert_eq!(
        parse_json(&project)["mcpServers"]["availsync"]["type"],
        "stdio"
    );

    let out = home.run(&[
        "install", "--yes", "--client", "windsurf", "--scope", "project",
    ]);
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
}

#[test]
fn detect_reports_evidence_and_configuration() {
    let home = Home::new();
    home.script("codex", "#!/bin/sh\n");
    std::fs::create_dir_all(home.home().join(".cursor")).unwrap();
    let out = home
        .command(&["install", "--yes", "--client", "cursor"])
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = home
        .command(&["detect", "--json"])
        .env("AVAILSYNC_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    let by = |id: &str| {
        found["clients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["client"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by("cursor")["configured"], true);
    assert_eq!(by("codex")["installed"], true);
    assert_eq!(by("codex")["configured"], false);
    assert_eq!(by("zed")["installed"], false);
    assert!(
        by("codex")["evidence"][0]
            .as_str()
            .unwrap()
            .contains("bin/codex")
    );
}

#[test]
fn no_arguments_without_a_terminal_explains_the_flags() {
    let home = Home::new();
    let out = home.run(&[]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("install --client") && err.contains("login"),
        "{err}"
    );
}
