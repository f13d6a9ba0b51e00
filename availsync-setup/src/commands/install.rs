//! `availsync-setup install`: add the `availsync` entry to clients' MCP
//! configuration, showing diffs, with backups and atomic writes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::Command;

use serde::Serialize;

use crate::clients::{self, ClientId, ENTRY_NAME, Method, Scope, ServerSpec};
use crate::exit;
use crate::key_source::{KeyState, Source};
use crate::output::{self, Style};
use crate::paths::BaseDirs;
use crate::plan::{self, Change, Status};

/// Arguments of `install`.
#[derive(Debug, Clone, clap::Args)]
pub struct InstallArgs {
    /// Clients to configure (repeatable).
    #[arg(long = "client", value_enum, required_unless_present = "all_detected")]
    pub clients: Vec<ClientId>,
    /// Configure every client `detect` finds.
    #[arg(long, conflicts_with = "clients")]
    pub all_detected: bool,
    /// User-wide configuration, or the project's.
    #[arg(long, value_enum, default_value_t = Scope::User)]
    pub scope: Scope,
    /// The project for --scope project [default: the current directory].
    #[arg(long)]
    pub project_dir: Option<PathBuf>,
    /// Show the diffs and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also write the API key into the client configs (plain text: avoid).
    #[arg(long)]
    pub embed_key: bool,
    /// The server URL written as AVAILSYNC_URL [default: $AVAILSYNC_URL, the stored one, or http://127.0.0.1:8787].
    #[arg(long)]
    pub url: Option<String>,
    /// The availsync-mcp binary [default: next to this program, else on PATH].
    #[arg(long)]
    pub mcp_path: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `claude` did or should do.
#[derive(Debug, Clone, Serialize)]
pub struct CliAction {
    /// The client.
    pub client: ClientId,
    /// The native command to run by hand.
    pub command: String,
    /// `ran`, `failed`, `not-run` (claude not on PATH / dry run).
    pub status: String,
    /// The CLI's error output on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of an install or remove.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// File changes.
    pub changes: Vec<Change>,
    /// Client CLI commands.
    pub commands: Vec<CliAction>,
    /// Nothing was written.
    pub dry_run: bool,
    /// Where the agent key comes from (never the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<KeyState>,
}

/// Builds the entry's spec from the arguments.
pub fn spec(args: &InstallArgs, dirs: &BaseDirs) -> Result<ServerSpec, (u8, String)> {
    let command = super::find_mcp(args.mcp_path.as_ref(), dirs).map_err(|e| (exit::CONFIG, e))?;
    let resolved =
        super::resolve(args.url.as_deref()).map_err(|e| (exit::CONFIG, e.to_string()))?;
    let mut env = BTreeMap::new();
    env.insert(availsync_sdk::URL_ENV.to_owned(), resolved.url);
    if args.embed_key {
        let key = resolved.key.ok_or((
            exit::CONFIG,
            "--embed-key needs a key: run `availsync-setup login` or set AVAILSYNC_API_KEY"
                .to_owned(),
        ))?;
        env.insert(availsync_sdk::API_KEY_ENV.to_owned(), key);
    }
    Ok(ServerSpec { command, env })
}

/// The chosen clients.
pub fn chosen(args: &InstallArgs, dirs: &BaseDirs) -> Vec<ClientId> {
    if args.all_detected {
        ClientId::ALL
            .into_iter()
            .filter(|&c| !clients::evidence(c, dirs).is_empty())
            .collect()
    } else {
        let mut list = args.clients.clone();
        list.sort();
        list.dedup();
        list
    }
}

/// Plans the changes for `clients`; errors name unsupported scopes.
pub fn plan_install(
    clients_list: &[ClientId],
    dirs: &BaseDirs,
    scope: Scope,
    project: &std::path::Path,
    spec: &ServerSpec,
) -> Result<(Vec<Change>, Vec<ClientId>), String> {
    let mut changes = Vec::new();
    let mut via_cli = Vec::new();
    for &client in clients_list {
        match clients::method(client, dirs, scope, project).map_err(|e| e.to_string())? {
            Method::Files(targets) => {
                changes.extend(targets.iter().map(|t| plan::install(client, t, spec)));
            }
            Method::ClaudeCli => via_cli.push(client),
        }
    }
    Ok((changes, via_cli))
}

/// Prints each change's diff or state.
pub fn show(changes: &[Change], style: Style) {
    for change in changes {
        match change.status {
            Status::Unchanged => println!(
                "{} {} (unchanged)",
                change.client.id(),
                change.path.display()
            ),
            Status::Refused => println!(
                "{} {} {}",
                change.client.id(),
                style.bad("refused:"),
                change.error.as_deref().unwrap_or("")
            ),
            _ => {
                println!(
                    "{} {}",
                    change.client.id(),
                    style.bold(&change.path.display().to_string())
                );
                println!("{}", style.diff(&change.diff));
            }
        }
    }
}

/// Configures Claude Code through its CLI (user scope).
pub fn claude_add_action(dirs: &BaseDirs, spec: &ServerSpec) -> CliAction {
    claude_add(dirs, spec, false)
}

fn claude_add(dirs: &BaseDirs, spec: &ServerSpec, dry_run: bool) -> CliAction {
    let command = spec.claude_add_command(Scope::User);
    let Some(claude) = dirs.which("claude").filter(|_| !dry_run) else {
        return CliAction {
            client: ClientId::ClaudeCode,
            command,
            status: "not-run".into(),
            error: None,
        };
    };
    // Replace an older entry: remove (ignoring "not found"), then add.
    let _ = Command::new(&claude)
        .args(["mcp", "remove", "--scope", "user", ENTRY_NAME])
        .output();
    let result = Command::new(&claude)
        .args([
            "mcp",
            "add-json",
            "--scope",
            "user",
            ENTRY_NAME,
            &spec.claude_json(),
        ])
        .output();
    match result {
        Ok(out) if out.status.success() => CliAction {
            client: ClientId::ClaudeCode,
            command,
            status: "ran".into(),
            error: None,
        },
        Ok(out) => CliAction {
            client: ClientId::ClaudeCode,
            command,
            status: "failed".into(),
            error: Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
        },
        Err(e) => CliAction {
            client: ClientId::ClaudeCode,
            command,
            status: "failed".into(),
            error: Some(format!("cannot run {}: {e}", claude.display())),
        },
    }
}

/// Writes every change that writes; answers whether all succeeded.
pub fn apply_all(changes: &mut [Change], private: bool) -> bool {
    let mut ok = true;
    for change in changes.iter_mut() {
        if let Err(e) = plan::apply(change, private) {
            change.error = Some(e.to_string());
            change.status = Status::Refused;
            ok = false;
        }
    }
    ok
}

/// Prints what was written.
pub fn report(changes: &[Change], commands: &[CliAction], style: Style) {
    for change in changes {
        match change.status {
            Status::Unchanged => println!("{} {} unchanged", style.dim("="), change.path.display()),
            Status::Refused => println!(
                "{} {}",
                style.bad("✗"),
                change.error.as_deref().unwrap_or("refused")
            ),
            status => {
                let verb = match status {
                    Status::Create => "created",
                    Status::Remove => "removed availsync from",
                    _ => "updated",
                };
                print!("{} {verb} {}", style.good("✓"), change.path.display());
                if let Some(b) = &change.backup {
                    print!(" (backup: {})", b.display());
                }
                println!();
            }
        }
    }
    for action in commands {
        match action.status.as_str() {
            "ran" => println!(
                "{} claude-code: configured with `claude mcp add-json --scope user {ENTRY_NAME} …`",
                style.good("✓")
            ),
            "failed" => println!(
                "{} claude-code: `claude mcp` failed: {}",
                style.bad("✗"),
                action.error.as_deref().unwrap_or("")
            ),
            _ => {}
        }
        println!("  Claude Code's native command: {}", action.command);
    }
}

/// Warns when the entries about to be written will find no key: none is
/// embedded and none is stored (a key only in this shell's environment
/// does not reach clients started elsewhere).
pub fn warn_without_key(keys: &KeyState) {
    if keys.stored {
        return;
    }
    let why = match (keys.source, &keys.error) {
        (_, Some(error)) => format!("the credentials file cannot be read ({error})"),
        (Source::Env, None) => format!(
            "the key in ${} reaches only clients started from this environment",
            availsync_sdk::API_KEY_ENV
        ),
        _ => "availsync-mcp will have no key, so every call it makes will fail".to_owned(),
    };
    output::warn(&format!(
        "no credentials stored; run `availsync-setup login` ({why})"
    ));
}

/// Runs `install`.
pub fn run(args: InstallArgs) -> u8 {
    let style = Style::stdout();
    let dirs = match BaseDirs::from_env() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("availsync-setup: {e}");
            return exit::CONFIG;
        }
    };
    let spec = match spec(&args, &dirs) {
        Ok(s) => s,
        Err((code, e)) => {
            eprintln!("availsync-setup: {e}");
            return code;
        }
    };
    let keys = KeyState::from_env();
    if args.embed_key {
        output::warn(
            "--embed-key writes your agent API key in plain text into each client config; anyone who can read those files (backups, dotfile repos, screen shares) can use it. Prefer `availsync-setup login`.",
        );
    } else {
        warn_without_key(&keys);
    }
    let project = match args
        .project_dir
        .clone()
        .map_or_else(std::env::current_dir, std::path::absolute)
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("availsync-setup: cannot resolve the project directory: {e}");
            return exit::USAGE;
        }
    };
    let list = chosen(&args, &dirs);
    if list.is_empty() {
        eprintln!(
            "availsync-setup: no client detected; name them with --client (see `availsync-setup detect`)"
        );
        return exit::USAGE;
    }
    let (mut changes, via_cli) = match plan_install(&list, &dirs, args.scope, &project, &spec) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("availsync-setup: {e}");
            return exit::USAGE;
        }
    };
    let writes = changes.iter().any(Change::writes);
    if !args.json && (args.dry_run || !args.yes) {
        show(&changes, style);
    }
    if writes && !args.dry_run && !args.yes {
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "availsync-setup: not a terminal: pass --yes to write these changes (or --dry-run to only show them)"
            );
            return exit::USAGE;
        }
        match dialoguer::Confirm::new()
            .with_prompt("Write these changes?")
            .default(true)
            .interact()
        {
            Ok(true) => {}
            Ok(false) => {
                println!("nothing written");
                return 1;
            }
            Err(e) => {
                eprintln!("availsync-setup: {e}");
                return exit::USAGE;
            }
        }
    }
    let mut ok = true;
    if !args.dry_run {
        ok = apply_all(&mut changes, args.embed_key);
    }
    let commands: Vec<CliAction> = via_cli
        .iter()
        .map(|_| claude_add(&dirs, &spec, args.dry_run))
        .collect();
    ok &= changes.iter().all(|c| c.status != Status::Refused)
        && commands.iter().all(|c| c.status != "failed");
    let outcome = Outcome {
        changes,
        commands,
        dry_run: args.dry_run,
        credentials: Some(keys),
    };
    if args.json {
        match serde_json::to_string_pretty(&outcome) {
            Ok(text) => println!("{text}"),
            Err(e) => eprintln!("availsync-setup: {e}"),
        }
    } else if args.dry_run {
        for action in &outcome.commands {
            println!("Claude Code's native command: {}", action.command);
        }
        println!("dry run: nothing written");
    } else {
        report(&outcome.changes, &outcome.commands, style);
    }
    if ok { 0 } else { 1 }
}
