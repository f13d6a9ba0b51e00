//! Client configuration: where the server is, which key, how long to wait,
//! how to retry.

use std::time::Duration;

use rand::Rng;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::http::HttpClient;
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
    pub(crate) http: Option<HttpClient>,
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
            http: None,
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

    /// Longest wait for one answer: connecting, sending, and reading the
    /// answer to its end, whichever HTTP client sends it.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Longest wait for the TCP connection to the server (or to its
    /// proxy); name resolution and the TLS handshake count against
    /// [`ClientBuilder::timeout`] with the rest of the call. Configures the
    /// SDK's own HTTP client only, not one given to
    /// [`ClientBuilder::http_client`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The `User-Agent` sent (prefix your tool's name). Configures the
    /// SDK's own HTTP client only: a client given to
    /// [`ClientBuilder::http_client`] sends its own.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// How transient failures are retried.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Sends the calls through your own reqwest client, with its pool,
    /// proxies, root certificates, client certificate, TLS backend,
    /// default headers and user agent; one client can serve the SDK and the
    /// rest of your program.
    ///
    /// The SDK still bounds every call by [`ClientBuilder::timeout`] and
    /// retries on its own terms ([`RetryPolicy`]), so leave reqwest's own
    /// retries at their default (protocol-level refusals only) or turn them
    /// off. The API never redirects. [`ClientBuilder::connect_timeout`] and
    /// [`ClientBuilder::user_agent`] are yours to set on the client.
    ///
    /// ```
    /// use availsync_sdk::Client;
    /// use std::time::Duration;
    ///
    /// let http = reqwest::Client::builder()
    ///     .connect_timeout(Duration::from_secs(2))
    ///     .user_agent("deploy-bot/1.4")
    ///     .build()?;
    /// let client = Client::builder()
    ///     .base_url("http://127.0.0.1:8787")
    ///     .api_key("avs_live_example")
    ///     .http_client(http)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(HttpClient::Reqwest(client));
        self
    }

    /// Sends the calls through your reqwest client wrapped in
    /// [`reqwest_middleware`] layers: retry, tracing, OpenTelemetry context
    /// propagation, caching, whatever you already use. Needs the
    /// `middleware` feature.
    ///
    /// As with [`ClientBuilder::http_client`], the SDK bounds each call by
    /// [`ClientBuilder::timeout`] (your middleware's own retries included)
    /// and retries on its own terms; a retry middleware under it multiplies
    /// the attempts, so give it a policy that retries nothing the SDK
    /// already does, or none. A middleware's error is an
    /// [`Error::Transport`](crate::Error::Transport) whose
    /// [`HttpError::is_connect`](crate::HttpError::is_connect) and
    /// [`HttpError::is_tls_failure`](crate::HttpError::is_tls_failure)
    /// look at the reqwest error it wraps, if any.
    ///
    /// ```
    /// use availsync_sdk::Client;
    ///
    /// let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
    ///     // .with(your middleware)
    ///     .build();
    /// let client = Client::builder()
    ///     .base_url("http://127.0.0.1:8787")
    ///     .api_key("avs_live_example")
    ///     .middleware_client(http)
    ///     .build()?;
    /// # let _ = client;
    /// # Ok::<(), availsync_sdk::Error>(())
    /// ```
    #[cfg(feature = "middleware")]
    #[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
    pub fn middleware_client(mut self, client: reqwest_middleware::ClientWithMiddleware) -> Self {
        self.http = Some(HttpClient::Middleware(client));
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
