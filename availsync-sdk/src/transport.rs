//! Sending requests: one connection pool, auth headers, retries with
//! backoff, and mapping answers to typed results or [`Error`]s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use availsync_types::ErrorBody;
use reqwest::header::{HeaderMap, RETRY_AFTER, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::{ClientBuilder, RetryPolicy};
use crate::error::{ApiError, Error, Result};

/// How requests authenticate.
#[derive(Clone)]
pub(crate) enum Credentials {
    /// `Authorization: Bearer <key>`.
    ApiKey(String),
    /// A human session cookie, learned from signup or login.
    Session(Arc<Mutex<Option<String>>>),
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
#[derive(Clone)]
pub(crate) struct Transport {
    http: reqwest::Client,
    base_url: String,
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
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(&config.user_agent)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base_url,
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
    ) -> Result<(StatusCode, bytes::Bytes)> {
        let url = format!("{}{path}", self.base_url);
        let attempts = match retry {
            Retry::Never => 1,
            _ => self.retry.max_attempts,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let outcome = self.send_once(&method, &url, query, body).await;
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

    async fn send_once(
        &self,
        method: &Method,
        url: &str,
        query: &[(&str, String)],
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<(StatusCode, bytes::Bytes)> {
        let mut request = self.http.request(method.clone(), url);
        if !query.is_empty() {
            request = request.query(query);
        }
        request = match &self.credentials {
            Credentials::ApiKey(key) => request.bearer_auth(key),
            Credentials::Session(cookie) => match cookie.lock().ok().and_then(|c| c.clone()) {
                Some(cookie) => request.header(reqwest::header::COOKIE, cookie),
                None => request,
            },
        };
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.transport_error(url, e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(url, e))?;
        self.remember_session(&headers);
        if status.is_success() {
            return Ok((status, bytes));
        }
        let body: Option<ErrorBody> = serde_json::from_slice(&bytes).ok();
        Err(Error::from(ApiError::from_body(
            status.as_u16(),
            body,
            retry_after(&headers),
        )))
    }

    fn transport_error(&self, url: &str, error: reqwest::Error) -> Error {
        if error.is_timeout() {
            Error::Timeout {
                url: url.to_owned(),
                timeout: self.timeout,
            }
        } else {
            Error::Transport {
                url: url.to_owned(),
                error,
            }
        }
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
    matches!(error, Error::Transport { error, .. } if error.is_connect())
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
