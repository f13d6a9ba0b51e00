//! Shared helpers for the Availsync examples.
//!
//! The examples themselves use the SDK ([`availsync_sdk`]); this library only
//! finds them a server and a workspace to play in, and formats output:
//!
//! - [`Target`] picks the server: the one named by `AVAILSYNC_URL` (alias
//!   `AVAILSYNC_API_URL`), or else the reference server embedded in this
//!   process with its default SQLite storage in a fresh temporary directory.
//! - [`Sandbox`] signs up a throwaway workspace with a unique email (so an
//!   example can run again and again against a shared server) and creates
//!   agents with ready-to-use [`Client`]s.
//! - [`say!`], [`clock_time`], [`hour_minute`], [`span`], [`short_id`] and
//!   [`tomorrow_at`] keep the output short and aligned.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use availsync_examples::{Sandbox, Target};
//!
//! let target = Target::from_env().await?;
//! let sandbox = Sandbox::sign_up(&target, "demo").await?;
//! let (agent, client) = sandbox.agent("ci-bot", None).await?;
//! println!("{} checks in at {}", agent.name, client.base_url());
//! target.shutdown().await;
//! # Ok(()) }
//! ```

use anyhow::Context as _;
use availsync_sdk::types::{Agent, AuthResponse};
use availsync_sdk::{AdminClient, Client, Mode, Timestamp, URL_ENV, URL_ENV_ALIAS};
use availsync_server::{RunningServer, ServerConfig};

/// `println!` that ignores a closed stdout (as in `| head`) instead of
/// panicking.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// The server an example talks to.
pub enum Target {
    /// A server the user runs, named by `AVAILSYNC_URL`.
    Remote {
        /// Its base URL, without a trailing slash.
        url: String,
    },
    /// The reference server, started inside this process.
    Embedded {
        /// The running server.
        server: RunningServer,
        /// Where its SQLite database lives; removed when dropped.
        data_dir: tempfile::TempDir,
    },
}

impl Target {
    /// The server named by `AVAILSYNC_URL` (or `AVAILSYNC_API_URL`) when one
    /// of them is set and not blank; otherwise starts the embedded reference
    /// server on a free loopback port, storing its data in a new temporary
    /// directory.
    pub async fn from_env() -> anyhow::Result<Self> {
        match url_from_env() {
            Some(url) => Ok(Self::Remote { url }),
            None => Self::embedded().await,
        }
    }

    /// Starts the embedded reference server with its default SQLite storage
    /// in a new temporary directory.
    pub async fn embedded() -> anyhow::Result<Self> {
        let data_dir = tempfile::Builder::new()
            .prefix("availsync-example-")
            .tempdir()
            .context("cannot create a temporary data directory")?;
        let server = RunningServer::start(ServerConfig::ephemeral(data_dir.path()))
            .await
            .context("cannot start the embedded Availsync server")?;
        Ok(Self::Embedded { server, data_dir })
    }

    /// The server's base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        match self {
            Self::Remote { url } => url.clone(),
            Self::Embedded { server, .. } => server.url(),
        }
    }

    /// True for a server named by `AVAILSYNC_URL`.
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Remote { .. })
    }

    /// One line saying which server this is, for the example's header.
    pub fn describe(&self) -> String {
        match self {
            Self::Remote { url } => format!("{url} (from {URL_ENV})"),
            Self::Embedded { server, data_dir } => format!(
                "{} (embedded, SQLite in {})",
                server.url(),
                data_dir.path().display()
            ),
        }
    }

    /// Stops the embedded server (finishing in-flight requests) and removes
    /// its data; does nothing for a remote server.
    pub async fn shutdown(self) {
        if let Self::Embedded { server, data_dir } = self {
            server.shutdown().await;
            drop(data_dir);
        }
    }
}

/// `AVAILSYNC_URL`, else `AVAILSYNC_API_URL`, trimmed and without a trailing
/// slash; `None` when neither is set to something non-blank.
pub fn url_from_env() -> Option<String> {
    [URL_ENV, URL_ENV_ALIAS]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .map(|url| url.trim().trim_end_matches('/').to_owned())
        .find(|url| !url.is_empty())
}

/// A throwaway workspace, signed up with a unique email, and its admin
/// client (signed in).
#[derive(Debug)]
pub struct Sandbox {
    /// The human's client, holding the session cookie.
    pub admin: AdminClient,
    /// The sign-up answer: the user and the workspace.
    pub account: AuthResponse,
    url: String,
}

impl Sandbox {
    /// Signs up a new workspace on `target` as
    /// `<label>-<unique suffix>@example.com`.
    pub async fn sign_up(target: &Target, label: &str) -> anyhow::Result<Self> {
        let url = target.url();
        let admin = AdminClient::new(&url)?;
        let email = unique_email(label);
        let account = admin
            .signup(&email, "example-password", &format!("{label} example"))
            .await
            .with_context(|| format!("cannot sign up {email} at {url}"))?;
        Ok(Self {
            admin,
            account,
            url,
        })
    }

    /// Creates an agent (`mode` `None` means enforce) and answers it with a
    /// client that uses its API key. The key itself is not kept anywhere
    /// else: print `agent.key_prefix`, never the key.
    pub async fn agent(&self, name: &str, mode: Option<Mode>) -> anyhow::Result<(Agent, Client)> {
        let created = self
            .admin
            .create_agent(name, mode)
            .await
            .with_context(|| format!("cannot create the agent {name}"))?;
        let client = Client::builder()
            .base_url(&self.url)
            .api_key(created.api_key)
            .build()?;
        Ok((created.agent, client))
    }
}

/// `<label>-<milliseconds since the epoch>-<process id>@example.com`: a new
/// sign-up email each run, so an example can run repeatedly against one
/// server.
pub fn unique_email(label: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("{label}-{millis}-{}@example.com", std::process::id())
}

/// The time of day of a timestamp, `HH:MM:SSZ`, for short output lines.
///
/// ```
/// let t: availsync_sdk::Timestamp = "2026-11-29T12:30:00.250Z".parse().unwrap();
/// assert_eq!(availsync_examples::clock_time(t), "12:30:00Z");
/// ```
pub fn clock_time(at: Timestamp) -> String {
    let full = at.to_string();
    match full.get(11..19) {
        Some(time) => format!("{time}Z"),
        None => full,
    }
}

/// The hour and minute of a timestamp, `HH:MM` (UTC), for time windows.
///
/// ```
/// let t: availsync_sdk::Timestamp = "2026-11-29T09:30:00Z".parse().unwrap();
/// assert_eq!(availsync_examples::hour_minute(t), "09:30");
/// ```
pub fn hour_minute(at: Timestamp) -> String {
    let full = at.to_string();
    full.get(11..16).map_or(full.clone(), str::to_owned)
}

/// `hour:minute` UTC tomorrow, by this machine's clock: a day whose
/// windows are all in the future, for examples that book time.
///
/// ```
/// let nine = availsync_examples::tomorrow_at(9, 0);
/// assert_eq!(availsync_examples::hour_minute(nine), "09:00");
/// assert!(nine > availsync_sdk::Timestamp::now());
/// ```
pub fn tomorrow_at(hour: i64, minute: i64) -> Timestamp {
    const DAY: i64 = 24 * 3600 * 1000;
    let today = Timestamp::now().unix_millis().div_euclid(DAY) * DAY;
    Timestamp::from_unix_millis(today + DAY + (hour * 60 + minute) * 60_000)
}

/// A window `[start, end)` as `HH:MM–HH:MM` (UTC).
///
/// ```
/// use availsync_examples::{span, tomorrow_at};
/// assert_eq!(span(tomorrow_at(10, 0), tomorrow_at(11, 30)), "10:00–11:30");
/// ```
pub fn span(start: Timestamp, end: Timestamp) -> String {
    format!("{}–{}", hour_minute(start), hour_minute(end))
}

/// A random id (`run_…`, `hold_…`, or the SDK's own `run-…`) cut to its
/// prefix and first 8 hex digits, for one-line output; other ids unchanged.
///
/// ```
/// use availsync_examples::short_id;
/// assert_eq!(short_id("hold_0123456789abcdef"), "hold_01234567…");
/// assert_eq!(short_id("run-0123456789abcdef"), "run-01234567…");
/// assert_eq!(short_id("deploy-homepage-7"), "deploy-homepage-7");
/// ```
pub fn short_id(id: &str) -> String {
    let Some(at) = id.find(['_', '-']) else {
        return id.to_owned();
    };
    let digits = &id[at + 1..];
    if digits.len() > 8 && digits.chars().all(|c| c.is_ascii_hexdigit()) {
        format!("{}…", &id[..at + 9])
    } else {
        id.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_emails_look_like_emails() {
        let email = unique_email("quickstart");
        assert!(email.starts_with("quickstart-"));
        assert!(email.ends_with("@example.com"));
    }
}
