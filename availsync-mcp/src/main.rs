//! `availsync-mcp`: the stdio MCP server.

use clap::Parser;

/// The Availsync MCP server (stdio).
#[derive(Parser)]
#[command(version, about)]
struct Cli {}

fn main() {
    let _ = Cli::parse();
    eprintln!("availsync-mcp: the MCP tools are not available in this release; see README.md");
    std::process::exit(2);
}
