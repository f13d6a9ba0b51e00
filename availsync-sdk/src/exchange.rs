//! One HTTP exchange over a pooled keep-alive connection: hyper-util's
//! client (HTTP/1.1, rustls for `https://`), with nothing between the SDK
//! and the connection.
//!
//! The SDK sent its calls through reqwest before. reqwest wraps every call
//! in redirect and retry layers and parses the URL again from each answer;
//! the API never redirects and the SDK retries on its own terms
//! ([`crate::transport`]), so those layers only cost: about half of a busy
//! agent's CPU per call (README, Performance).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, USER_AGENT};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;

use crate::error::{Error, Result};

/// How long an idle pooled connection is kept for the next call.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// A connection pool for one client (and its clones).
pub(crate) struct Http {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    user_agent: HeaderValue,
}

/// A whole answer: status, headers and the body read to its end.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Http {
    /// A pool whose connections are made within `connect_timeout`; every
    /// request says it comes from `user_agent`. `tls` is whether the base
    /// URL is `https://`: only then are the system's CA certificates loaded.
    pub(crate) fn new(connect_timeout: Duration, user_agent: &str, tls: bool) -> Result<Self> {
        let user_agent = HeaderValue::try_from(user_agent).map_err(|_| {
            Error::Config(format!(
                "user agent {user_agent:?} holds characters an HTTP header cannot carry"
            ))
        })?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false); // the TLS layer above takes https://
        tcp.set_nodelay(true); // requests are small and written at once
        tcp.set_connect_timeout(Some(connect_timeout));
        let tls_config = if tls {
            verifying_config()?
        } else {
            unused_config()?
        };
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .build(connector);
        Ok(Self { client, user_agent })
    }

    /// Sends `request` and reads the whole answer. Bounding its time is
    /// the caller's job.
    pub(crate) async fn send(
        &self,
        mut request: Request<Full<Bytes>>,
    ) -> std::result::Result<Answer, HttpError> {
        request
            .headers_mut()
            .insert(USER_AGENT, self.user_agent.clone());
        let response = self.client.request(request).await.map_err(|e| HttpError {
            connect: e.is_connect(),
            inner: Box::new(e),
        })?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| HttpError {
                connect: false,
                inner: Box::new(e),
            })?
            .to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// The crypto provider, named rather than taken from the process default,
/// which is ambiguous when a program links two of them.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// TLS that verifies servers against the system's CA certificates (the
/// platform verifier). Loading and parsing them takes milliseconds, so it
/// is done once per process, not per client.
fn verifying_config() -> Result<ClientConfig> {
    static CONFIG: OnceLock<std::result::Result<ClientConfig, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            use rustls_platform_verifier::BuilderVerifierExt;
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .and_then(|builder| builder.with_platform_verifier())
                .map(|builder| builder.with_no_client_auth())
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::Config(format!("cannot set up TLS for https://: {e}")))
}

/// TLS for a client whose base URL is `http://`: it never makes a TLS
/// connection, so no certificates are loaded (a machine without a CA
/// bundle can still call a plain-HTTP server).
fn unused_config() -> Result<ClientConfig> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("cannot set up the HTTP client: {e}")))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}

/// Why a call got no answer: the connection could not be made, or broke
/// before the answer was read.
///
/// Its message names the cause and every cause behind it, e.g. `client
/// error (Connect): tcp connect error: Connection refused (os error 111)`.
pub struct HttpError {
    inner: Box<dyn std::error::Error + Send + Sync>,
    connect: bool,
}

impl HttpError {
    /// True when no connection could be made, so the request surely never
    /// reached the server.
    pub fn is_connect(&self) -> bool {
        self.connect
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.inner)?;
        let mut cause = self.inner.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpError")
            .field("connect", &self.connect)
            .field("error", &self.inner)
            .finish()
    }
}

/// The message already names every cause, so none is repeated as a source.
impl std::error::Error for HttpError {}
