//! The command line: one subcommand per job. Each subcommand's arguments
//! live beside its implementation.

use clap::{Parser, Subcommand};

/// Sets up Availsync for local agent clients and guards CI and cron commands.
#[derive(Debug, Parser)]
#[command(name = "availsync-setup", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do; none starts the interactive setup on a terminal.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command only while holding the claim on a resource (for CI and
    /// cron jobs).
    Guard(crate::guard::GuardArgs),
    /// Store the server URL and agent key (verified first; mode 0600).
    Login(crate::commands::login::LoginArgs),
    /// Delete the stored credentials.
    Logout,
    /// List the agent clients found here and whether Availsync is configured.
    Detect(crate::commands::detect::DetectArgs),
    /// Add Availsync to clients' MCP configuration (diffs, backups, atomic writes).
    Install(crate::commands::install::InstallArgs),
    /// Take Availsync out of clients' MCP configuration.
    Remove(crate::commands::remove::RemoveArgs),
    /// Run the setup test: health, start, extend, finish, activity.
    Test(crate::commands::test::TestArgs),
    /// Check the server, the key, the clock and each client's entry, and
    /// say what to fix.
    Doctor(crate::commands::doctor::DoctorArgs),
    /// The edit hook an agent client runs before each file edit (see
    /// `install --hooks`): claims the file's path for the session, or
    /// blocks the edit when another agent holds it.
    Hook(crate::hook::HookArgs),
}
