//! `availsync-setup login`: store the server URL and agent key once, after
//! checking them against the server.

use std::io::{BufRead, IsTerminal};

use availsync_sdk::credentials::{self, Credentials};

use crate::exit;
use crate::output::Style;

/// Arguments of `login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// The server URL [default: $AVAILSYNC_URL, the stored one, or http://127.0.0.1:8787].
    #[arg(long)]
    pub url: Option<String>,
    /// Store without checking the key against the server.
    #[arg(long)]
    pub no_verify: bool,
}

/// Reads the key: `AVAILSYNC_API_KEY`, else a hidden prompt on a terminal,
/// else the first line of standard input.
pub fn read_key() -> Result<String, String> {
    if let Ok(key) = std::env::var(availsync_sdk::API_KEY_ENV)
        && !key.trim().is_empty()
    {
        return Ok(key.trim().to_owned());
    }
    let key = if std::io::stdin().is_terminal() {
        dialoguer::Password::new()
            .with_prompt("Agent API key (input hidden)")
            .interact()
            .map_err(|e| format!("cannot read the key: {e}"))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the key from standard input: {e}"))?;
        line
    };
    let key = key.trim().to_owned();
    if key.is_empty() {
        return Err(format!(
            "no key given: pipe it on standard input or set {}",
            availsync_sdk::API_KEY_ENV
        ));
    }
    Ok(key)
}

/// Verifies and stores credentials; prints where.
pub async fn store(url: &str, key: &str, verify: bool) -> Result<std::path::PathBuf, (u8, String)> {
    if verify {
        super::verify::verify(url, key)
            .await
            .map_err(|e| (e.exit_code(), e.to_string()))?;
    }
    let path = credentials::default_path().map_err(|e| (exit::CONFIG, e.to_string()))?;
    credentials::save(
        &path,
        &Credentials {
            url: url.to_owned(),
            api_key: key.to_owned(),
        },
    )
    .map_err(|e| (exit::CONFIG, e.to_string()))?;
    Ok(path)
}

/// Runs `login`.
pub async fn run(args: LoginArgs) -> u8 {
    let style = Style::stdout();
    let resolved = match super::resolve(args.url.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("availsync-setup: {e}");
            return exit::CONFIG;
        }
    };
    let key = match read_key() {
        Ok(key) => key,
        Err(e) => {
            eprintln!("availsync-setup: {e}");
            return exit::USAGE;
        }
    };
    match store(&resolved.url, &key, !args.no_verify).await {
        Ok(path) => {
            println!(
                "{} key for {} verified and stored in {} (mode 0600)",
                style.good("✓"),
                resolved.url,
                path.display()
            );
            0
        }
        Err((code, message)) => {
            eprintln!("{} {message}", Style::stderr().bad("✗"));
            code
        }
    }
}
