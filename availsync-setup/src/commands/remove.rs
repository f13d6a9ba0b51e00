//! `availsync-setup remove`: take the `availsync` entry out of clients'
//! configuration, leaving everything else as it was.

use std::path::PathBuf;

use super::changes::{apply_all, backups, report, report_cli, show};
use super::claude_cli::{self, CliStatus};
use super::install::Outcome;
use crate::clients::hooks;
use crate::clients::{self, ClientId, Method, Scope};
use crate::edit::backups::{DEFAULT_KEEP, KEEP_ENV};
use crate::exit;
use crate::output::Style;
use crate::paths::BaseDirs;
use crate::plan::{self, Status};

/// Arguments of `remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// Clients to clean (repeatable).
    #[arg(long = "client", value_enum, required = true)]
    pub clients: Vec<ClientId>,
    /// User-wide configuration, or the project's.
    #[arg(long, value_enum, default_value_t = Scope::User)]
    pub scope: Scope,
    /// The project for --scope project [default: the current directory].
    #[arg(long)]
    pub project_dir: Option<PathBuf>,
    /// Show the diffs and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Backups kept per file; older ones are deleted, 0 makes none.
    #[arg(long, env = KEEP_ENV, default_value_t = DEFAULT_KEEP)]
    pub keep_backups: usize,
    /// Take out only the edit hook, leaving the MCP entry.
    #[arg(long)]
    pub hooks_only: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `remove`.
pub fn run(args: RemoveArgs) -> u8 {
    let style = Style::stdout();
    let dirs = match BaseDirs::from_env() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("availsync-setup: {e}");
            return exit::CONFIG;
        }
    };
    let project = match args
        .project_dir
        .clone()
        .map_or_else(std::env::current_dir, std::path::absolute)
    {
        Ok(p) => p,
        Err(e) => {
            eprintln!("availsync-setup: {e}");
            return exit::USAGE;
        }
    };
    let mut list = args.clients.clone();
    list.sort();
    list.dedup();
    let mut changes = Vec::new();
    let mut commands = Vec::new();
    for client in list {
        if !args.hooks_only {
            match clients::method(client, &dirs, args.scope, &project) {
                Ok(Method::Files(targets)) => {
                    changes.extend(targets.iter().map(|t| plan::remove(client, t)))
                }
                Ok(Method::ClaudeCli) => commands.push(claude_cli::remove(&dirs, args.dry_run)),
                Err(e) => {
                    eprintln!("availsync-setup: {e}");
                    return exit::USAGE;
                }
            }
        }
        // The edit hook lives in user settings only.
        if args.scope == Scope::User
            && let Some(target) = hooks::target(client, &dirs)
        {
            let prior = changes
                .iter()
                .position(|c| c.path == target.path)
                .map(|i| changes.remove(i));
            changes.push(plan::remove_hooks(client, &target, prior));
        }
    }
    if args.dry_run && !args.json {
        show(&changes, style);
    }
    if !args.dry_run {
        apply_all(
            &mut changes,
            false,
            &backups(args.scope, args.keep_backups, &dirs),
        );
    }
    let ok = changes.iter().all(|c| c.status != Status::Refused)
        && commands.iter().all(|c| c.status != CliStatus::Failed);
    let outcome = Outcome {
        changes,
        commands,
        dry_run: args.dry_run,
        credentials: None,
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
