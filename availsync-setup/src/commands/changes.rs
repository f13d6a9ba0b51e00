//! What `install` and `remove` share: the backups policy, applying the
//! planned file changes, and printing plans and results.

use crate::clients::{ENTRY_NAME, Scope};
use crate::commands::claude_cli::{CliAction, CliStatus};
use crate::edit::backups::Backups;
use crate::output::Style;
use crate::paths::BaseDirs;
use crate::plan::{self, Change, Status};

/// Where backups go: beside user files, and for a project's files (shared
/// through its repository) under the user's state directory.
pub fn backups(scope: Scope, keep: usize, dirs: &BaseDirs) -> Backups {
    match scope {
        Scope::User => Backups::beside(keep),
        Scope::Project => Backups::under(dirs.backups(), keep),
    }
}

/// Prints each change's diff (keys masked) or state.
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
                print!(
                    "{} {}",
                    change.client.id(),
                    style.bold(&change.path.display().to_string())
                );
                if let Some(target) = &change.link_target {
                    print!(" (a link to {}, which is edited)", target.display());
                }
                println!();
                println!("{}", style.diff(&change.diff));
            }
        }
    }
}

/// Writes every change that writes; answers whether all succeeded.
pub fn apply_all(changes: &mut [Change], private: bool, backups: &Backups) -> bool {
    let mut ok = true;
    for change in changes.iter_mut() {
        if let Err(e) = plan::apply(change, private, backups) {
            change.error = Some(e.to_string());
            change.status = Status::Refused;
            ok = false;
        }
    }
    ok
}

/// Prints what was written and what `claude` did.
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
                if let Some(target) = &change.link_target {
                    print!(" (through the link, in {})", target.display());
                }
                if let Some(b) = &change.backup {
                    print!(" (backup: {})", b.display());
                }
                println!();
            }
        }
    }
    for action in commands {
        report_cli(action, style);
    }
}

/// One `claude mcp` action, in words.
pub fn report_cli(action: &CliAction, style: Style) {
    let removing = action.command.starts_with("claude mcp remove");
    match action.status {
        CliStatus::Ran if removing => println!(
            "{} claude-code: removed with `{}`",
            style.good("✓"),
            action.command
        ),
        CliStatus::Ran => println!(
            "{} claude-code: configured with `claude mcp add-json --scope user {ENTRY_NAME} …`",
            style.good("✓")
        ),
        CliStatus::Unchanged => println!(
            "{} claude-code: unchanged (Claude Code already has this {ENTRY_NAME} entry)",
            style.dim("=")
        ),
        CliStatus::Failed => println!(
            "{} claude-code: `claude mcp` failed: {}",
            style.bad("✗"),
            action.error.as_deref().unwrap_or("")
        ),
        CliStatus::NotRun => println!(
            "claude-code (dry run): nothing run; Claude Code's native command: {}",
            action.command
        ),
        CliStatus::ClaudeMissing => println!(
            "{} claude-code: nothing was {}: `claude` is not on PATH. Run this yourself where it is:\n    {}",
            style.warn("!"),
            if removing { "removed" } else { "configured" },
            action.command
        ),
    }
    if matches!(action.status, CliStatus::Ran | CliStatus::Unchanged) && !removing {
        println!("  Claude Code's native command: {}", action.command);
    }
}
