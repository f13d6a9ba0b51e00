//! The command line: one subcommand per job. Each subcommand's arguments
//! live beside its implementation.

use clap::{Parser, Subcommand};

/// Sets up Availsync for local agent clients and guards CI and cron commands.
#[derive(Debug, Parser)]
#[command(name = "availsync-setup", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command only while holding the claim on a resource (for CI and
    /// cron jobs).
    Guard(crate::guard::GuardArgs),
}
