//! Sending requests: one connection pool, auth headers, retries with
//! backoff, and mapping answers to typed results or [`Error`]s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use availsync_types::ErrorBody;
use bytes::Bytes;
use http::header::{
    AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, HeaderValue, RETRY_AFTER, SET_COOKIE,
};
use http::{Method, Request, StatusCode, Uri};
use http_body_util::Full;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::config::{ClientBuilder, RetryPolicy};
use crate::error::{ApiError, Error, Result};
use crate::exchange::Http;

/// How requests authenticate.
#[derive(Clone)]
pub(crate) enum Credentials {
    /// `Authorization: Bearer <key>`: the header, built once (see
    /// [`Credentials::api_key`]) and marked sensitive.
    ApiKey(HeaderValue),
    /// A human session cookie, learned from signup or login.
    Session(Arc<Mutex<Option<String>>>),
}

impl Credentials {
    /// An agent's API key as its `Authorization` header, built once rather
    /// than on every call. A key that a header cannot carry is a config
    /// error, which does not echo the key.
    pub(crate) fn api_key(key: &str) -> Result<Self> {
        let mut value = HeaderValue::try_from(format!("Bearer {key}")).map_err(|_| {
            Error::Config("the API key holds characters an HTTP header cannot carry".to_owned())
        })?;
        value.set_sensitive(true);
        Ok(Self::ApiKey(value))
    }
}

/// Whether a call may be sent again after a failure that left its effect
/// unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Safe to repeat (reads, and writes made idempotent by an id).
    Idempotent,
    /// Repeat only when the request surely never reached the server.
    ConnectOnly,
    /// Never repeat here (the caller retries on its own terms).
    Never,
}

/// A configured HTTP transport. Cheap to clone: clones share one pool.
///
/// Every call is bounded by the client's timeout as a whole: connecting,
/// sending, and reading the answer to its end.
///
/// The base URL is parsed once, here, rather than on every call (with the
/// API key's header, that parsing and formatting was about a tenth of a
/// busy client's CPU).
#[derive(Clone)]
pub(crate) struct Transport {
    http: Arc<Http>,
    base_url: String,
    base: Arc<Url>,
    credentials: Credentials,
    timeout: Duration,
    retry: RetryPolicy,
}

impl Transport {
    pub(crate) fn new(config: &ClientBuilder, credentials: Credentials) -> Result<Self> {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(Error::Config(format!(
                "base URL '{base_url}' must start with http:// or https://"
            )));
        }
        let base = Url::parse(&base_url)
            .map_err(|e| Error::Config(format!("base URL '{base_url}' is not a valid URL: {e}")))?;
        let base_uri = Uri::try_from(base.as_str())
            .map_err(|e| Error::Config(format!("base URL '{base_url}' is not a valid URI: {e}")))?;
        let http = Arc::new(Http::new(
            config.connect_timeout,
            &config.user_agent,
            &base_uri,
        )?);
        Ok(Self {
            http,
            base_url,
            base: Arc::new(base),
            credentials,
            timeout: config.timeout,
            retry: RetryPolicy {
                max_attempts: config.retry.max_attempts.max(1),
                ..config.retry
            },
        })
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Sends a request and decodes a JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + Sync)>,
        retry: Retry,
    ) -> Result<T> {
        let (status, bytes) = self.send(method, path, query, body, retry).await?;
        serde_json::from_slice(&bytes).map_err(|error| Error::Decode {
            status: status.as_u16(),
            error,
            body: truncate(&bytes),
        })
    }

    /// Sends a request whose answer has no body (204).
    pub(crate) async fn empty(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + Sync)>,
        retry: Retry,
    ) -> Result<()> {
        self.send(method, path, &[], body, retry).await.map(|_| ())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + Sync)>,
        retry: Retry,
    ) -> Result<(StatusCode, Bytes)> {
        let mut url = self.endpoint(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        // Checked once per call; an id no URI can carry was percent-encoded
        // by `Url`, so this only fails on a bug.
        let uri = Uri::try_from(url.as_str())
            .map_err(|e| Error::Config(format!("cannot call {url}: {e}")))?;
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::Config(format!("cannot encode the request to {url}: {e}")))?
            .map(Bytes::from);
        let attempts = match retry {
            Retry::Never => 1,
            _ => self.retry.max_attempts,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.send_once(&method, &url, &uri, body.clone()).await;
            let error = match outcome {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let may_retry = attempt < attempts
                && match retry {
                    Retry::Idempotent => error.is_retryable(),
                    Retry::ConnectOnly => is_connect_error(&error),
                    Retry::Never => false,
                };
            if !may_retry {
                return Err(error);
            }
            let mut wait = self.retry.backoff(attempt - 1);
            if let Some(seconds) = error.api().and_then(|e| e.retry_after) {
                wait = wait.max(Duration::from_secs(seconds));
            }
            tracing::debug!(%url, attempt, ?wait, error = %error, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// The base URL with `path` (which starts with `/`) after its own path.
    fn endpoint(&self, path: &str) -> Url {
        let mut url = Url::clone(&self.base);
        let prefix = self.base.path().trim_end_matches('/');
        if prefix.is_empty() {
            url.set_path(path);
        } else {
            url.set_path(&[prefix, path].concat());
        }
        url
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        uri: &Uri,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        let mut request = Request::builder().method(method.clone()).uri(uri.clone());
        request = match &self.credentials {
            Credentials::ApiKey(authorization) => request.header(AUTHORIZATION, authorization),
            Credentials::Session(cookie) => match cookie.lock().ok().and_then(|c| c.clone()) {
                Some(cookie) => request.header(COOKIE, cookie),
                None => request,
            },
        };
        if body.is_some() {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let request = request
            .body(Full::new(body.unwrap_or_default()))
            .map_err(|e| Error::Config(format!("cannot call {url}: {e}")))?;
        let answer = tokio::time::timeout(self.timeout, self.http.send(request))
            .await
            .map_err(|_| Error::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
            })?
            .map_err(|error| Error::Transport {
                url: url.to_string(),
                error,
            })?;
        self.remember_session(&answer.headers);
        if answer.status.is_success() {
            return Ok((answer.status, answer.body));
        }
        let body: Option<ErrorBody> = serde_json::from_slice(&answer.body).ok();
        Err(Error::from(ApiError::from_body(
            answer.status.as_u16(),
            body,
            retry_after(&answer.headers),
        )))
    }

    /// Keeps (or clears) the session cookie a human endpoint set.
    fn remember_session(&self, headers: &HeaderMap) {
        let Credentials::Session(slot) = &self.credentials else {
            return;
        };
        let prefix = format!("{}=", availsync_types::SESSION_COOKIE);
        for value in headers.get_all(SET_COOKIE).iter() {
            let Ok(value) = value.to_str() else { continue };
            let Some(pair) = value.split(';').next() else {
                continue;
            };
            if let Some(token) = pair.strip_prefix(&prefix)
                && let Ok(mut slot) = slot.lock()
            {
                *slot = (!token.is_empty()).then(|| pair.to_owned());
            }
        }
    }
}

fn is_connect_error(error: &Error) -> bool {
    matches!(error, Error::Transport { error, .. } if error.is_connect() && !error.is_tls_failure())
}

fn retry_after(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn truncate(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(2048) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(base_url: &str, key: &str) -> Result<Transport> {
        ClientBuilder::new()
            .base_url(base_url)
            .transport(Credentials::api_key(key)?)
    }

    #[test]
    fn endpoints_keep_the_base_urls_path() {
        let at_root = transport("http://127.0.0.1:8787/", "k").unwrap();
        assert_eq!(
            at_root.endpoint("/v1/work/run/start").as_str(),
            "http://127.0.0.1:8787/v1/work/run/start"
        );
        let under_prefix = transport("https://example.com/availsync/", "k").unwrap();
        assert_eq!(
            under_prefix.endpoint("/v1/holds/hold_1").as_str(),
            "https://example.com/availsync/v1/holds/hold_1"
        );
    }

    #[test]
    fn a_key_no_header_can_carry_is_a_config_error() {
        let error = transport("http://127.0.0.1:8787", "bad\nkey")
            .err()
            .expect("a newline cannot go in a header");
        assert!(
            matches!(&error, Error::Config(message) if message.contains("API key")),
            "{error}"
        );
        assert!(!error.to_string().contains("bad"), "{error}");
    }

    #[test]
    fn a_base_url_that_does_not_parse_is_a_config_error() {
        let error = transport("http://[not-a-host", "k").err().expect("bad URL");
        assert!(matches!(error, Error::Config(_)), "{error}");
    }
}
