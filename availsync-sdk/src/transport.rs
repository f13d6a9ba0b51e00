//! Sending requests: auth headers, retries with backoff, a tracing span
//! per call, and mapping answers to typed results or [`Error`]s.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use availsync_types::ErrorBody;
use bytes::Bytes;
use reqwest::header::{
    AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, HeaderValue, RETRY_AFTER, SET_COOKIE,
};
use reqwest::{Method, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tracing::Instrument;
use tracing::field::Empty;

use crate::config::{ClientBuilder, RetryPolicy};
use crate::error::{Error, Result};
use crate::http::HttpClient;

/// How requests authenticate.
#[derive(Clone)]
pub(crate) enum Credentials {
    /// `Authorization: Bearer <key>`: the header, built once (see
    /// [`Credentials::api_key`]) and marked sensitive, so that no debug
    /// output shows it.
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

/// One API call: its route, what it concerns (for its tracing span) and
/// whether it may be repeated. Idempotent unless told otherwise.
pub(crate) struct Call<'a> {
    method: Method,
    /// The route as the API documents it, e.g. `/v1/holds/{hold_id}`; at
    /// most one `{placeholder}`, filled by [`Call::id`].
    route: &'static str,
    id: Option<&'a str>,
    query: Vec<(&'static str, String)>,
    run_id: Option<&'a str>,
    resource: Option<&'a str>,
    retry: Retry,
    /// Time the server may take on purpose (a waited `run/start`), added
    /// to the client's timeout.
    extra_time: Duration,
}

impl<'a> Call<'a> {
    fn new(method: Method, route: &'static str) -> Self {
        Self {
            method,
            route,
            id: None,
            query: Vec::new(),
            run_id: None,
            resource: None,
            retry: Retry::Idempotent,
            extra_time: Duration::ZERO,
        }
    }

    pub(crate) fn get(route: &'static str) -> Self {
        Self::new(Method::GET, route)
    }

    pub(crate) fn post(route: &'static str) -> Self {
        Self::new(Method::POST, route)
    }

    pub(crate) fn patch(route: &'static str) -> Self {
        Self::new(Method::PATCH, route)
    }

    pub(crate) fn delete(route: &'static str) -> Self {
        Self::new(Method::DELETE, route)
    }

    /// The id that fills the route's placeholder (sent as one path
    /// segment, percent-encoded).
    pub(crate) fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    pub(crate) fn query(mut self, query: Vec<(&'static str, String)>) -> Self {
        self.query = query;
        self
    }

    pub(crate) fn run_id(mut self, run_id: &'a str) -> Self {
        self.run_id = Some(run_id);
        self
    }

    pub(crate) fn resource(mut self, resource: Option<&'a str>) -> Self {
        self.resource = resource;
        self
    }

    pub(crate) fn retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// Lets each attempt take `extra` longer than the client's timeout:
    /// the server holds the answer that long on purpose.
    pub(crate) fn extra_time(mut self, extra: Duration) -> Self {
        self.extra_time = extra;
        self
    }
}

/// A configured HTTP transport. Cheap to clone: clones share one pool.
///
/// Every call is bounded by the client's timeout as a whole: connecting,
/// sending, and reading the answer to its end (plus the time a waited
/// start lets the server wait).
///
/// The base URL is parsed once, here, rather than on every call (with the
/// API key's header, that parsing and formatting was about a tenth of a
/// busy client's CPU).
#[derive(Clone)]
pub(crate) struct Transport {
    http: HttpClient,
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
        if base.cannot_be_a_base() || base.host().is_none() {
            return Err(Error::Config(format!(
                "base URL '{base_url}' names no server"
            )));
        }
        Ok(Self {
            http: HttpClient::for_base(config, &base)?,
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

    /// Sends a call and decodes its JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<T> {
        let (status, bytes) = self.send(call, body).await?;
        serde_json::from_slice(&bytes).map_err(|error| Error::Decode {
            status: status.as_u16(),
            error,
            body: truncate(&bytes),
        })
    }

    /// Sends a call whose answer has no body (204).
    pub(crate) async fn empty(
        &self,
        call: Call<'_>,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<()> {
        self.send(call, body).await.map(|_| ())
    }

    /// Sends a call, retrying as its [`Retry`] allows, inside a span named
    /// `availsync.call` with the method, the route template, the run id
    /// and resource where the call names them, the attempt and the
    /// answer's status. Neither the key nor the session cookie is ever a
    /// field or in a message.
    async fn send(
        &self,
        call: Call<'_>,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<(StatusCode, Bytes)> {
        let span = tracing::info_span!(
            "availsync.call",
            method = %call.method,
            route = call.route,
            run_id = call.run_id,
            resource = call.resource,
            attempt = Empty,
            status = Empty,
            error = Empty,
        );
        let outcome = self
            .attempts(&call, body, &span)
            .instrument(span.clone())
            .await;
        match &outcome {
            Ok((status, _)) => {
                span.record("status", status.as_u16());
            }
            Err(error) => {
                if let Some(api) = error.api() {
                    span.record("status", api.status);
                }
                span.record("error", tracing::field::display(error));
            }
        }
        outcome
    }

    async fn attempts(
        &self,
        call: &Call<'_>,
        body: Option<&(impl Serialize + Sync)>,
        span: &tracing::Span,
    ) -> Result<(StatusCode, Bytes)> {
        let mut url = self.endpoint(call.route, call.id);
        if !call.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&call.query);
        }
        let body = body
            .map(serde_json::to_vec)
            .transpose()
            .map_err(|e| Error::Config(format!("cannot encode the request to {url}: {e}")))?
            .map(Bytes::from);
        let attempts = match call.retry {
            Retry::Never => 1,
            _ => self.retry.max_attempts,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            span.record("attempt", attempt);
            let timeout = self.timeout.saturating_add(call.extra_time);
            let error = match self
                .send_once(&call.method, &url, body.clone(), timeout)
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(error) => error,
            };
            let may_retry = attempt < attempts
                && match call.retry {
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
            tracing::debug!(attempt, ?wait, error = %error, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// The base URL with `route` after its own path, the route's
    /// `{placeholder}` (if any) filled with `id` as one percent-encoded
    /// segment.
    fn endpoint(&self, route: &str, id: Option<&str>) -> Url {
        let (head, tail) = match (route.split_once('{'), id) {
            (Some((head, rest)), Some(id)) => {
                let tail = rest.split_once('}').map_or("", |(_, tail)| tail);
                (head.trim_end_matches('/'), Some((id, tail)))
            }
            _ => (route, None),
        };
        let mut url = Url::clone(&self.base);
        let prefix = self.base.path().trim_end_matches('/');
        url.set_path(&[prefix, head].concat());
        if let Some((id, tail)) = tail
            && let Ok(mut segments) = url.path_segments_mut()
        {
            segments
                .push(id)
                .extend(tail.split('/').filter(|s| !s.is_empty()));
        }
        url
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<(StatusCode, Bytes)> {
        let mut headers = HeaderMap::new();
        self.authorize(&mut headers, url)?;
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let exchange = async {
            let response = self
                .http
                .send(method.clone(), url.clone(), headers, body)
                .await?;
            self.remember_session(response.headers());
            let status = response.status();
            let retry_after = retry_after(response.headers());
            let body = response.bytes().await?;
            Ok::<_, crate::http::HttpError>((status, retry_after, body))
        };
        let (status, retry_after, body) = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Error::Timeout {
                url: url.to_string(),
                timeout,
            })?
            .map_err(|error| Error::Transport {
                url: url.to_string(),
                error,
            })?;
        if status.is_success() {
            return Ok((status, body));
        }
        let error: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        Err(Error::from_answer(status.as_u16(), error, retry_after))
    }

    /// Opens a streaming `GET` (the event stream): answers the response
    /// once its head has arrived (within the call timeout), its body still
    /// to be read for as long as the stream lasts. A non-2xx answer is the
    /// error it names.
    pub(crate) async fn open_stream(
        &self,
        route: &'static str,
        query: &[(&'static str, String)],
        extra: HeaderMap,
    ) -> Result<reqwest::Response> {
        let mut url = self.endpoint(route, None);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut headers = extra;
        self.authorize(&mut headers, &url)?;
        let response = tokio::time::timeout(
            self.timeout,
            self.http.send(Method::GET, url.clone(), headers, None),
        )
        .await
        .map_err(|_| Error::Timeout {
            url: url.to_string(),
            timeout: self.timeout,
        })?
        .map_err(|error| Error::Transport {
            url: url.to_string(),
            error,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = retry_after(response.headers());
        let body = tokio::time::timeout(self.timeout, response.bytes())
            .await
            .ok()
            .and_then(std::result::Result::ok)
            .unwrap_or_default();
        let error: Option<ErrorBody> = serde_json::from_slice(&body).ok();
        Err(Error::from_answer(status.as_u16(), error, retry_after))
    }

    /// Adds the caller's credentials to `headers`.
    fn authorize(&self, headers: &mut HeaderMap, url: &Url) -> Result<()> {
        match &self.credentials {
            Credentials::ApiKey(authorization) => {
                headers.insert(AUTHORIZATION, authorization.clone());
            }
            Credentials::Session(cookie) => {
                if let Some(cookie) = cookie.lock().ok().and_then(|c| c.clone()) {
                    let mut cookie = HeaderValue::try_from(cookie)
                        .map_err(|e| Error::Config(format!("cannot call {url}: {e}")))?;
                    cookie.set_sensitive(true);
                    headers.insert(COOKIE, cookie);
                }
            }
        }
        Ok(())
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

    /// The base URL's own path is kept, and an id fills its route's
    /// placeholder as one percent-encoded path segment.
    #[test]
    fn endpoints_keep_the_base_urls_path_and_an_id_stays_one_segment() {
        for (base, route, id, expected) in [
            (
                "http://127.0.0.1:8787/",
                "/v1/work/run/start",
                None,
                "http://127.0.0.1:8787/v1/work/run/start",
            ),
            (
                "https://example.com/availsync/",
                "/v1/holds/{hold_id}",
                Some("hold_1"),
                "https://example.com/availsync/v1/holds/hold_1",
            ),
            (
                "https://example.com/availsync",
                "/v1/agents/{agent_id}/rotate-key",
                Some("agt_1"),
                "https://example.com/availsync/v1/agents/agt_1/rotate-key",
            ),
            (
                "http://127.0.0.1:8787",
                "/v1/holds/{hold_id}",
                Some("../agents/x?y"),
                "http://127.0.0.1:8787/v1/holds/..%2Fagents%2Fx%3Fy",
            ),
        ] {
            let transport = transport(base, "k").unwrap();
            assert_eq!(transport.endpoint(route, id).as_str(), expected);
        }
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
