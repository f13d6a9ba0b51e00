//! `availsync-setup`: the developer CLI.

use clap::Parser;

/// Sets up Availsync for local agent clients and CI.
#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!("availsync-setup: no subcommands are available in this release; see README.md");
    std::process::exit(2);
}
