//! `availsync-setup`: the developer CLI.

mod cli;
mod clients;
mod commands;
mod describe;
mod edit;
mod exit;
mod fnv;
mod guard;
mod hook;
mod key_source;
mod output;
mod paths;
mod plan;
mod redact;
mod wizard;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // The TLS verifier logs each refused certificate as an
                // error of its own; the command's message already says why.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("warn,rustls_platform_verifier=off")
                }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A client reads any exit but 2 from its edit hook as "go ahead":
        // a hook command line this binary does not understand (written by
        // a newer version) must block, not let every edit through.
        Err(e) if std::env::args_os().nth(1).is_some_and(|a| a == "hook") && e.use_stderr() => {
            let _ = e.print();
            eprintln!(
                "availsync: the edit hook's command line is wrong, so edits are blocked; run `availsync-setup install --hooks` again"
            );
            return ExitCode::from(hook::BLOCK);
        }
        Err(e) => return ExitCode::from(usage_error(&e)),
    };
    // The hook runs before every edit: no multi-threaded runtime for it.
    if let Some(Command::Hook(args)) = cli.command {
        return ExitCode::from(hook::run(args));
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("availsync-setup: cannot start the async runtime: {e}");
            return ExitCode::from(exit::SOFTWARE);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Some(Command::Guard(args)) => guard::run(args).await,
            Some(Command::Login(args)) => commands::login::run(args).await,
            Some(Command::Logout) => commands::logout::run(),
            Some(Command::Detect(args)) => commands::detect::run(args),
            Some(Command::Install(args)) => commands::install::run(args),
            Some(Command::Remove(args)) => commands::remove::run(args),
            Some(Command::Test(args)) => commands::test::run(args).await,
            Some(Command::Doctor(args)) => commands::doctor::run(args).await,
            Some(Command::Hook(_)) => unreachable!("handled before the runtime starts"),
            None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
                wizard::run().await
            }
            None => {
                eprintln!("{}", wizard::NON_INTERACTIVE_HELP);
                exit::USAGE
            }
        }
    });
    ExitCode::from(code)
}

/// Prints clap's message and answers the exit code: 0 for `--help` and
/// `--version`, 64 (EX_USAGE) for every command line that is wrong.
fn usage_error(error: &clap::Error) -> u8 {
    // Printing to a closed stream is not worth a second error.
    let _ = error.print();
    if error.use_stderr() { exit::USAGE } else { 0 }
}
