//! Client configuration: where the server is, which key, how long to wait,
//! how to retry.

use std::time::Duration;

use rand::Rng;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::transport::{Credentials, Transport};

/// Environment variable naming the server URL.
pub const URL_ENV: &str = "AVAILSYNC_URL";
/// Alias of [`URL_ENV`].
pub const URL_ENV_ALIAS: &str = "AVAILSYNC_API_URL";
/// Environment variable holding the agent API key.
pub const API_KEY_ENV: &str = "AVAILSYNC_API_KEY";

/// How transient failures are retried: bounded attempts with jittered
/// exponential backoff ("full jitter"). `429` and `503` answers wait at least
/// their `Retry-After`.
///
/// ```
/// use availsync_sdk::RetryPolicy;
/// use std::time::Duration;
///
/// let policy = RetryPolicy { max_attempts: 5, ..RetryPolicy::default() };
/// assert!(policy.backoff(10) <= policy.max_backoff);
/// assert_eq!(RetryPolicy::none().max_attempts, 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff ceiling of the first retry.
    pub initial_backoff: Duration,
    /// Largest backoff between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// No retries: every call is tried once.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// A random wait before retry number `retry` (0-based), at most
    /// `min(max_backoff, initial_backoff * 2^retry)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .initial_backoff
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max_backoff);
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=millis))
    }
}

/// Builds a [`Client`].
///
/// ```
/// use availsync_sdk::Client;
/// use std::time::Duration;
///
/// let client = Client::builder()
///     .base_url("http://127.0.0.1:8787")
///     .api_key("avs_live_example")
///     .timeout(Duration::from_secs(5))
///     .build()?;
/// assert_eq!(client.base_url(), "http://127.0.0.1:8787");
/// # Ok::<(), availsync_sdk::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    pub(crate) base_url: String,
    pub(crate) api_key: Option<String>,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) user_agent: String,
    pub(crate) retry: RetryPolicy,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            base_url: availsync_types::DEFAULT_URL.to_owned(),
            api_key: None,
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            user_agent: concat!("availsync-sdk/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
        }
    }
}

impl ClientBuilder {
    /// Defaults: `http://127.0.0.1:8787`, 10 s timeout, default retries.
    pub fn new() -> Self {
        Self::default()
    }

    /// The server's base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// The agent API key (`avs_live_…`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Longest wait for one answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longest wait for the TCP connection to the server (or to its
    /// proxy); name resolution and the TLS handshake count against
    /// [`ClientBuilder::timeout`] with the rest of the call.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` sent (prefix your tool's name).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// How transient failures are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Reads `AVAILSYNC_URL` (or `AVAILSYNC_API_URL`) and `AVAILSYNC_API_KEY`
    /// where set.
    pub fn from_env(mut self) -> Self {
        if let Some(url) = std::env::var(URL_ENV)
            .ok()
            .or_else(|| std::env::var(URL_ENV_ALIAS).ok())
            .filter(|u| !u.trim().is_empty())
        {
            self.base_url = url;
        }
        if let Ok(key) = std::env::var(API_KEY_ENV)
            && !key.trim().is_empty()
        {
            self.api_key = Some(key.trim().to_owned());
        }
        self
    }

    /// Like [`ClientBuilder::from_env`], and where the environment names no
    /// key, the URL and key stored by `availsync-setup login`
    /// ([`crate::credentials`]). The environment wins over the file.
    pub fn from_env_or_credentials(
        self,
    ) -> std::result::Result<Self, crate::credentials::CredentialsError> {
        let mut builder = self.from_env();
        if builder.api_key.is_none() {
            let path = crate::credentials::default_path()?;
            if let Some(stored) = crate::credentials::load(&path)? {
                let url_from_env = std::env::var(URL_ENV)
                    .or_else(|_| std::env::var(URL_ENV_ALIAS))
                    .is_ok_and(|u| !u.trim().is_empty());
                if !url_from_env {
                    builder.base_url = stored.url;
                }
                builder.api_key = Some(stored.api_key);
            }
        }
        Ok(builder)
    }

    pub(crate) fn transport(&self, credentials: Credentials) -> Result<Transport> {
        Transport::new(self, credentials)
    }

    /// Builds the client; it needs an API key.
    pub fn build(self) -> Result<Client> {
        let key = self.api_key.clone().ok_or_else(|| {
            Error::Config(format!(
                "no agent API key: set {API_KEY_ENV} or call ClientBuilder::api_key"
            ))
        })?;
        Ok(Client::from_transport(
            self.transport(Credentials::api_key(&key)?)?,
        ))
    }
}
