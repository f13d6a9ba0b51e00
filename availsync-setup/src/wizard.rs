//! The interactive wizard, run by `availsync-setup` with no arguments on a
//! terminal: URL, hidden key, verification against the server, the detected
//! clients preselected, the plan as files and diffs, confirmation, the
//! writes, then the setup test.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dialoguer::{Confirm, Input, MultiSelect, Password};

use crate::clients::{ClientId, Scope, ServerSpec};
use crate::commands::{self, changes, install, test, verify};
use crate::exit;
use crate::output::Style;
use crate::paths::BaseDirs;

/// What to print when there is no terminal and no subcommand.
pub const NON_INTERACTIVE_HELP: &str = "availsync-setup: no terminal for the interactive setup. Use the subcommands instead:
  echo \"$KEY\" | availsync-setup login --url URL   store the server URL and agent key (verified, mode 0600)
  availsync-setup detect [--json]                  list the agent clients found here
  availsync-setup install --client ID... | --all-detected [--scope user|project] [--dry-run] [--yes]
  availsync-setup remove --client ID...            take Availsync out of a client's config
  availsync-setup test [--json]                    run the setup test
Client ids: cursor, windsurf, codex, claude-code, claude-desktop, vscode, zed, gemini, cline.
Run `availsync-setup --help` for everything.";

fn ask<T>(result: Result<T, dialoguer::Error>) -> Result<T, (u8, String)> {
    result.map_err(|e| (exit::USAGE, format!("prompt cancelled: {e}")))
}

/// Runs the wizard; answers the exit code.
pub async fn run() -> u8 {
    match steps().await {
        Ok(code) => code,
        Err((code, message)) => {
            eprintln!("{} {message}", Style::stderr().bad("✗"));
            code
        }
    }
}

async fn steps() -> Result<u8, (u8, String)> {
    let style = Style::stdout();
    println!("{}", style.bold("Availsync setup"));
    let dirs = BaseDirs::from_env().map_err(|e| (exit::CONFIG, e.to_string()))?;
    let resolved = commands::resolve(None).map_err(|e| (exit::CONFIG, e.to_string()))?;

    let url: String = ask(Input::new()
        .with_prompt("Server URL")
        .default(resolved.url.clone())
        .interact_text())?;
    let url = url.trim().trim_end_matches('/').to_owned();
    let key = match std::env::var(availsync_sdk::API_KEY_ENV)
        .ok()
        .filter(|k| !k.trim().is_empty())
    {
        Some(key) => {
            println!("Using the key in {}.", availsync_sdk::API_KEY_ENV);
            key.trim().to_owned()
        }
        None => ask(Password::new()
            .with_prompt("Agent API key (input hidden)")
            .interact())?
        .trim()
        .to_owned(),
    };
    verify::verify(&url, &key)
        .await
        .map_err(|e| (e.exit_code(), e.to_string()))?;
    println!("{} key verified against {url}", style.good("✓"));

    let detected: Vec<bool> = ClientId::ALL
        .iter()
        .map(|&c| !crate::clients::evidence(c, &dirs).is_empty())
        .collect();
    let labels: Vec<String> = ClientId::ALL
        .iter()
        .zip(&detected)
        .map(|(c, d)| format!("{}{}", c.name(), if *d { " (detected)" } else { "" }))
        .collect();
    let picked = ask(MultiSelect::new()
        .with_prompt("Clients to configure (space toggles, enter confirms)")
        .items(&labels)
        .defaults(&detected)
        .interact())?;
    let chosen: Vec<ClientId> = picked.iter().map(|&i| ClientId::ALL[i]).collect();

    let command = match commands::find_mcp(None, &dirs) {
        Ok(path) => path,
        Err(why) => {
            println!("{why}");
            let typed: String = ask(Input::new()
                .with_prompt("Path to availsync-mcp")
                .interact_text())?;
            commands::find_mcp(Some(&PathBuf::from(typed.trim())), &dirs)
                .map_err(|e| (exit::CONFIG, e))?
        }
    };
    let mut env = BTreeMap::new();
    env.insert(availsync_sdk::URL_ENV.to_owned(), url.clone());
    let spec = ServerSpec { command, env };
    let project = std::env::current_dir().map_err(|e| (exit::SOFTWARE, e.to_string()))?;
    let (mut changes, via_cli) =
        install::plan_install(&chosen, &dirs, Scope::User, &project, &spec)
            .map_err(|e| (exit::USAGE, e))?;

    let credentials_path =
        availsync_sdk::credentials::default_path().map_err(|e| (exit::CONFIG, e.to_string()))?;
    println!("\n{}", style.bold("The plan:"));
    println!(
        "credentials {} (mode 0600; the key is stored only here)",
        credentials_path.display()
    );
    changes::show(&changes, style);
    for _ in &via_cli {
        println!(
            "claude-code: claude mcp add-json --scope user availsync '{}'",
            spec.claude_json()
        );
    }
    if !ask(Confirm::new()
        .with_prompt("Write these changes?")
        .default(true)
        .interact())?
    {
        println!("nothing written");
        return Ok(1);
    }

    commands::login::store(&url, &key, false).await?;
    println!(
        "{} stored credentials in {}",
        style.good("✓"),
        credentials_path.display()
    );
    let backups =
        crate::edit::backups::Backups::beside(crate::edit::backups::Backups::keep_from_env());
    let mut ok = changes::apply_all(&mut changes, false, &backups);
    let actions: Vec<commands::claude_cli::CliAction> = via_cli
        .iter()
        .map(|_| install::claude_add_action(&dirs, &spec))
        .collect();
    ok &= actions
        .iter()
        .all(|a| a.status != commands::claude_cli::CliStatus::Failed);
    changes::report(&changes, &actions, style);

    if ask(Confirm::new()
        .with_prompt("Run the setup test now?")
        .default(true)
        .interact())?
    {
        let report = test::check(Some(&url)).await;
        test::print(&report, style);
        if !report.ok {
            return Ok(report.exit_code);
        }
    }
    Ok(if ok { 0 } else { 1 })
}
