//! `availsync-setup install`: add the `availsync` entry to clients' MCP
//! configuration, showing diffs, with backups and atomic writes.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

use serde::Serialize;

use super::changes::{apply_all, backups, report, report_cli, show};
use super::claude_cli::{self, CliAction, CliStatus};
use crate::clients::hooks::{self, HookSpec};
use crate::clients::{self, ClientId, Method, Scope, ServerSpec};
use crate::edit::backups::{DEFAULT_KEEP, KEEP_ENV};
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
    /// Show the diffs (keys masked) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also write the API key into the client configs (plain text: avoid).
    #[arg(long)]
    pub embed_key: bool,
    /// Allow --embed-key with --scope project, whose files are usually
    /// committed.
    #[arg(long, requires = "embed_key")]
    pub allow_key_in_repo: bool,
    /// Backups kept per file; older ones are deleted, 0 makes none.
    #[arg(long, env = KEEP_ENV, default_value_t = DEFAULT_KEEP)]
    pub keep_backups: usize,
    /// The server URL written as AVAILSYNC_URL [default: $AVAILSYNC_URL, the stored one, or http://127.0.0.1:8787].
    #[arg(long)]
    pub url: Option<String>,
    /// The availsync-mcp binary [default: next to this program, else on PATH].
    #[arg(long)]
    pub mcp_path: Option<PathBuf>,
    /// Also install the edit hook (Claude Code, Gemini CLI, Codex; user
    /// scope): before each file edit it claims the file for the session,
    /// and blocks the edit when another agent holds it.
    #[arg(long)]
    pub hooks: bool,
    /// With --hooks: let edits through when the Availsync server cannot be
    /// reached (by default the hook blocks them with a STOP).
    #[arg(long, requires = "hooks")]
    pub fail_open: bool,
    /// With --hooks: the lease of a session's claims, renewed at every
    /// edit (10s to 1h) [default: 15m].
    #[arg(long, requires = "hooks", value_parser = hook_ttl)]
    pub hook_ttl: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
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

/// A lease the hook accepts, kept as written for its command line.
fn hook_ttl(text: &str) -> Result<String, String> {
    crate::hook::parse_ttl(text).map(|_| text.to_owned())
}

/// Plans the edit hook of each of `clients` that has one, on top of the
/// changes already planned for the same files; answers the clients
/// without one.
pub fn plan_hooks(
    changes: &mut Vec<Change>,
    clients_list: &[ClientId],
    dirs: &BaseDirs,
    spec: &HookSpec,
) -> Vec<ClientId> {
    let mut without = Vec::new();
    for &client in clients_list {
        let Some(target) = hooks::target(client, dirs) else {
            without.push(client);
            continue;
        };
        let prior = changes
            .iter()
            .position(|c| c.path == target.path)
            .map(|i| changes.remove(i));
        changes.push(plan::install_hooks(client, &target, spec, prior));
    }
    without
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

/// Configures Claude Code through its CLI (user scope).
pub fn claude_add_action(dirs: &BaseDirs, spec: &ServerSpec) -> CliAction {
    claude_cli::add(dirs, spec, false)
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
    if args.embed_key && args.scope == Scope::Project && !args.allow_key_in_repo {
        eprintln!(
            "availsync-setup: --embed-key --scope project would write your agent key into the project's files, which are usually committed; refusing. Leave out --embed-key (availsync-mcp then reads the key `availsync-setup login` stores), or add --allow-key-in-repo if these files never leave this machine."
        );
        return exit::USAGE;
    }
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
    if args.hooks {
        if args.scope == Scope::Project {
            eprintln!(
                "availsync-setup: --hooks writes each client's user settings (the hook runs this machine's availsync-setup, which a project's shared files cannot name); leave out --scope project"
            );
            return exit::USAGE;
        }
        let program = match hooks::program() {
            Ok(program) => program,
            Err(e) => {
                eprintln!("availsync-setup: {e}");
                return exit::CONFIG;
            }
        };
        let hook_spec = HookSpec {
            program,
            url: spec
                .env
                .get(availsync_sdk::URL_ENV)
                .cloned()
                .unwrap_or_default(),
            fail_open: args.fail_open,
            ttl: args.hook_ttl.clone(),
        };
        for client in plan_hooks(&mut changes, &list, &dirs, &hook_spec) {
            output::warn(&format!(
                "{}: no edit hook installed: {}",
                client.id(),
                hooks::unsupported(client)
            ));
        }
        if args.embed_key && !keys.stored {
            output::warn(&format!(
                "the edit hook does not read the embedded key: it uses the stored credentials or ${}, and blocks every edit without one; run `availsync-setup login`",
                availsync_sdk::API_KEY_ENV
            ));
        }
    }
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
        let backups = backups(args.scope, args.keep_backups, &dirs);
        ok = apply_all(&mut changes, args.embed_key, &backups);
    }
    let commands: Vec<CliAction> = via_cli
        .iter()
        .map(|_| claude_cli::add(&dirs, &spec, args.dry_run))
        .collect();
    ok &= changes.iter().all(|c| c.status != Status::Refused)
        && commands.iter().all(|c| c.status != CliStatus::Failed);
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
            report_cli(action, style);
        }
        println!("dry run: nothing written");
    } else {
        report(&outcome.changes, &outcome.commands, style);
    }
    if ok { 0 } else { 1 }
}
