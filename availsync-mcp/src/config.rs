//! What this process runs with: the command line, and where the server URL
//! and the agent API key come from (the environment, else the credentials
//! file that `availsync-setup login` writes).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use availsync_sdk::credentials::{self, CREDENTIALS_FILE_ENV, Credentials, CredentialsError};
use availsync_sdk::types::{DEFAULT_URL, MAX_TTL_SECONDS, MIN_TTL_SECONDS};
use availsync_sdk::{API_KEY_ENV, Client, ClientBuilder, RetryPolicy, URL_ENV, URL_ENV_ALIAS};
use clap::Parser;

/// Lease length of a `start_run` that names none: short enough that a lease
/// of a crashed process lapses soon, long enough that a few failed extends
/// are ridden out.
pub const DEFAULT_TTL_SECONDS: u32 = 120;

/// The Availsync MCP server: speaks the Model Context Protocol on stdin and
/// stdout, so that coding agents claim a repository or project before they
/// edit it, and skip when someone else is working on it.
///
/// The agent API key comes from AVAILSYNC_API_KEY, else from the credentials
/// file that `availsync-setup login` writes. Logs go to stderr (level from
/// RUST_LOG).
#[derive(Debug, Clone, Parser)]
#[command(version, about, long_about)]
pub struct Cli {
    /// Server URL [default: $AVAILSYNC_URL or $AVAILSYNC_API_URL, else the
    /// credentials file's, else http://127.0.0.1:8787].
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Longest time a lease taken through this server is kept alive without
    /// finish_run (e.g. 90m, 2h, 7200s); it is then finished as cancelled.
    #[arg(
        long,
        env = "AVAILSYNC_MCP_MAX_RUN_TIME",
        default_value = "2h",
        value_name = "DURATION",
        value_parser = parse_duration
    )]
    pub max_run_time: Duration,

    /// Lease length of a start_run that asks for none, in seconds (10-3600).
    #[arg(
        long,
        env = "AVAILSYNC_MCP_TTL_SECONDS",
        default_value_t = DEFAULT_TTL_SECONDS,
        value_name = "SECONDS",
        value_parser = clap::value_parser!(u32).range(i64::from(MIN_TTL_SECONDS)..=i64::from(MAX_TTL_SECONDS))
    )]
    pub ttl_seconds: u32,

    /// Longest a tool call waits for the Availsync server (e.g. 10s, 30s)
    /// before it answers STOP; a start_run granted after that is finished
    /// as cancelled as soon as the server answers again.
    #[arg(
        long,
        env = "AVAILSYNC_MCP_CALL_TIMEOUT",
        default_value = "10s",
        value_name = "DURATION",
        value_parser = parse_duration
    )]
    pub call_timeout: Duration,

    /// Longest time spent finishing held leases on shutdown (stdin closed,
    /// SIGTERM, SIGINT); leases not finished by then lapse at their TTL.
    #[arg(
        long,
        env = "AVAILSYNC_MCP_SHUTDOWN_TIMEOUT",
        default_value = "3s",
        value_name = "DURATION",
        value_parser = parse_duration
    )]
    pub shutdown_timeout: Duration,
}

/// Longest duration a flag accepts.
const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 3600);

/// Parses a duration as humantime writes them (`90s`, `15m`, `2h`,
/// `500ms`, `1h 30m`, `2days`), or a bare number of seconds (`90`); never
/// zero, at most 366 days.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("'{text}' is not a duration such as 90s, 15m or 2h: {e}"))?,
    };
    if duration.is_zero() {
        return Err("the duration must be greater than zero".to_owned());
    }
    if duration > MAX_DURATION {
        return Err(format!("'{text}' is longer than the allowed 366 days"));
    }
    Ok(duration)
}

/// Where the API key was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `AVAILSYNC_API_KEY`.
    Environment,
    /// The credentials file at this path.
    CredentialsFile(PathBuf),
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Environment => write!(f, "${API_KEY_ENV}"),
            Self::CredentialsFile(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The server and key this process talks to. `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    /// The server's base URL.
    pub url: String,
    /// Where the key came from.
    pub key_source: KeySource,
    api_key: String,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("url", &self.url)
            .field("key_source", &self.key_source)
            .field("api_key", &"<redacted>")
            .finish()
    }
}

impl Target {
    /// An SDK client for this target. Calls give up quickly (a model is
    /// waiting), with a couple of retries for transient failures.
    /// Each call (its retries included) is cut off by the tool's deadline;
    /// one attempt may take all of it.
    pub fn client(&self, call_timeout: Duration) -> availsync_sdk::Result<Client> {
        ClientBuilder::new()
            .base_url(self.url.clone())
            .api_key(self.api_key.clone())
            .user_agent(concat!("availsync-mcp/", env!("CARGO_PKG_VERSION")))
            .timeout(call_timeout)
            .connect_timeout(Duration::from_secs(3).min(call_timeout))
            .retry_policy(RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(1),
            })
            .build()
    }
}

/// Why no target could be worked out.
#[derive(Debug)]
pub enum ConfigError {
    /// No key in the environment and no credentials file.
    NoKey {
        /// Where the credentials file was looked for, when known.
        credentials_path: Option<PathBuf>,
    },
    /// The credentials file exists but cannot be read.
    Credentials(CredentialsError),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoKey { credentials_path } => {
                write!(
                    f,
                    "no Availsync agent API key. Set {API_KEY_ENV} in this MCP server's environment, or run `availsync-setup login` to store one"
                )?;
                match credentials_path {
                    Some(path) => write!(f, " in {}", path.display())?,
                    None => write!(
                        f,
                        " (or point {CREDENTIALS_FILE_ENV} at a credentials file)"
                    )?,
                }
                write!(
                    f,
                    ". The server URL comes from {URL_ENV} (default {DEFAULT_URL})."
                )
            }
            Self::Credentials(e) => write!(f, "cannot read the stored credentials: {e}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Works out the target from the `--url` flag, the environment (`env`
/// answers a variable's non-empty value) and the credentials file (`stored`
/// is called only when the environment holds no key).
///
/// As in the SDK: a key in the environment wins over the file; the file's
/// URL is used only with the file's key and when no URL variable is set;
/// `--url` wins over everything.
pub fn resolve<E, S>(url_flag: Option<&str>, env: E, stored: S) -> Result<Target, ConfigError>
where
    E: Fn(&str) -> Option<String>,
    S: FnOnce() -> Result<(Option<PathBuf>, Option<Credentials>), CredentialsError>,
{
    let env = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let url_from_env = env(URL_ENV).or_else(|| env(URL_ENV_ALIAS));
    let url_flag = url_flag
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned);
    if let Some(api_key) = env(API_KEY_ENV) {
        return Ok(Target {
            url: url_flag
                .or(url_from_env)
                .unwrap_or_else(|| DEFAULT_URL.to_owned()),
            key_source: KeySource::Environment,
            api_key,
        });
    }
    let (path, credentials) = stored().map_err(ConfigError::Credentials)?;
    match (credentials, path) {
        (Some(credentials), Some(path)) if !credentials.api_key.trim().is_empty() => Ok(Target {
            url: url_flag.or(url_from_env).unwrap_or(credentials.url),
            key_source: KeySource::CredentialsFile(path),
            api_key: credentials.api_key.trim().to_owned(),
        }),
        (_, path) => Err(ConfigError::NoKey {
            credentials_path: path,
        }),
    }
}

/// [`resolve`] against the process environment and the default credentials
/// file (`$AVAILSYNC_CREDENTIALS_FILE`, else `<config dir>/availsync/credentials.toml`).
pub fn resolve_from_process(url_flag: Option<&str>) -> Result<Target, ConfigError> {
    resolve(
        url_flag,
        |name| std::env::var(name).ok(),
        || {
            let path = match credentials::default_path() {
                Ok(path) => path,
                Err(CredentialsError::NoConfigDir) => return Ok((None, None)),
                Err(e) => return Err(e),
            };
            let stored = credentials::load(&path)?;
            Ok((Some(path), stored))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn stored(
        url: &str,
        key: &str,
    ) -> impl FnOnce() -> Result<(Option<PathBuf>, Option<Credentials>), CredentialsError> {
        let credentials = Credentials {
            url: url.to_owned(),
            api_key: key.to_owned(),
        };
        move || Ok((Some(PathBuf::from("/creds.toml")), Some(credentials)))
    }

    fn no_file() -> Result<(Option<PathBuf>, Option<Credentials>), CredentialsError> {
        Ok((Some(PathBuf::from("/nowhere/credentials.toml")), None))
    }

    #[test]
    fn the_environment_key_wins_over_the_file_and_the_file_url_is_not_used_with_it() {
        let target = resolve(
            None,
            env(&[(API_KEY_ENV, " avs_live_env ")]),
            stored("http://file:1", "avs_live_file"),
        )
        .unwrap();
        assert_eq!(target.url, DEFAULT_URL);
        assert_eq!(target.key_source, KeySource::Environment);
        assert_eq!(target.api_key, "avs_live_env");
    }

    #[test]
    fn the_file_supplies_key_and_url_when_the_environment_has_no_key() {
        let target = resolve(None, env(&[]), stored("http://file:1", "avs_live_file")).unwrap();
        assert_eq!(target.url, "http://file:1");
        assert_eq!(
            target.key_source,
            KeySource::CredentialsFile(PathBuf::from("/creds.toml"))
        );
        let with_env_url = resolve(
            None,
            env(&[(URL_ENV_ALIAS, "http://alias:2")]),
            stored("http://file:1", "avs_live_file"),
        )
        .unwrap();
        assert_eq!(with_env_url.url, "http://alias:2");
    }

    #[test]
    fn the_url_flag_wins_over_everything() {
        let target = resolve(
            Some("http://flag:3"),
            env(&[(URL_ENV, "http://env:2"), (API_KEY_ENV, "k")]),
            no_file,
        )
        .unwrap();
        assert_eq!(target.url, "http://flag:3");
    }

    #[test]
    fn no_key_anywhere_names_the_variable_and_the_file() {
        let err = resolve(None, env(&[(API_KEY_ENV, "  ")]), no_file).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(API_KEY_ENV), "{message}");
        assert!(message.contains("/nowhere/credentials.toml"), "{message}");
        assert!(message.contains("availsync-setup login"), "{message}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let target = resolve(None, env(&[(API_KEY_ENV, "avs_live_secret")]), no_file).unwrap();
        assert!(!format!("{target:?}").contains("secret"));
    }

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2days"), Ok(Duration::from_secs(2 * 86400)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-5m").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("367days").is_err());
        assert!(parse_duration("99999999999h").is_err());
        let unknown = parse_duration("5 fortnights").unwrap_err();
        assert!(
            unknown.contains("5 fortnights") && unknown.contains("90s"),
            "{unknown}"
        );
    }
}
