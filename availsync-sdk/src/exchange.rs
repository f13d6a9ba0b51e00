//! One HTTP exchange over a pooled keep-alive connection: hyper-util's
//! client (HTTP/1.1, rustls for `https://`), with nothing between the SDK
//! and the connection.
//!
//! A proxy named by `HTTPS_PROXY`, `HTTP_PROXY` or `ALL_PROXY` (and not
//! excluded by `NO_PROXY`) carries the calls through an HTTP `CONNECT`
//! tunnel, for `https://` and `http://` servers alike.
//!
//! The SDK sent its calls through reqwest before. reqwest wraps every call
//! in redirect and retry layers and parses the URL again from each answer;
//! the API never redirects and the SDK retries on its own terms
//! ([`crate::transport`]), so those layers only cost: about half of a busy
//! agent's CPU per call (docs/performance.md).

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, USER_AGENT};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::proxy::Tunnel;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::ClientConfig;

use crate::error::{Error, Result};

/// How long an idle pooled connection is kept for the next call: below the
/// reference server's keep-alive idle timeout (20 s by default), so that a
/// call is not sent on a connection the server is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the TCP stack waits before probing an idle connection, and
/// between probes: a pooled connection that a NAT or load balancer
/// dropped silently is noticed before a call is sent on it.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// A connection pool for one client (and its clones).
pub(crate) struct Http {
    pool: Pool,
    user_agent: HeaderValue,
}

/// Connections straight to the server, or tunnelled through a proxy.
enum Pool {
    Direct(Client<HttpsConnector<HttpConnector>, Full<Bytes>>),
    Tunnelled(Client<HttpsConnector<Tunnel<HttpConnector>>, Full<Bytes>>),
}

/// A whole answer: status, headers and the body read to its end.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Http {
    /// A pool for calls to `base` whose TCP connections are made within
    /// `connect_timeout`; every request says it comes from `user_agent`.
    /// The system's CA certificates are loaded only for an `https://` base,
    /// and the proxy environment variables are read here, once.
    pub(crate) fn new(connect_timeout: Duration, user_agent: &str, base: &Uri) -> Result<Self> {
        let user_agent = HeaderValue::try_from(user_agent).map_err(|_| {
            Error::Config(format!(
                "user agent {user_agent:?} holds characters an HTTP header cannot carry"
            ))
        })?;
        let mut tcp = HttpConnector::new();
        tcp.enforce_http(false); // the TLS layer above takes https://
        tcp.set_nodelay(true); // requests are small and written at once
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_keepalive(Some(TCP_KEEPALIVE));
        tcp.set_keepalive_interval(Some(TCP_KEEPALIVE));
        tcp.set_keepalive_retries(Some(3));
        let tls = if base.scheme_str() == Some("https") {
            verifying_config()?
        } else {
            unused_config()?
        };
        let pool = match Matcher::from_env().intercept(base) {
            None => Pool::Direct(pool(https(tls, tcp))),
            Some(proxy) => {
                if proxy.uri().scheme_str() != Some("http") {
                    return Err(Error::Config(format!(
                        "the proxy for {base} must be an http:// proxy (HTTP CONNECT); \
                         set HTTPS_PROXY, HTTP_PROXY or ALL_PROXY to one, or name the \
                         server in NO_PROXY"
                    )));
                }
                let mut tunnel = Tunnel::new(proxy.uri().clone(), tcp);
                if let Some(auth) = proxy.basic_auth() {
                    tunnel = tunnel.with_auth(auth.clone());
                }
                Pool::Tunnelled(pool(https(tls, tunnel)))
            }
        };
        Ok(Self { pool, user_agent })
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
        let response = match &self.pool {
            Pool::Direct(client) => client.request(request).await,
            Pool::Tunnelled(client) => client.request(request).await,
        };
        let response = response.map_err(|e| HttpError {
            connect: e.is_connect(),
            tls: tls_failure(&e),
            inner: Box::new(e),
        })?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| HttpError {
                connect: false,
                tls: false,
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

/// TLS over `inner`'s connections for `https://`; `http://` passes through.
fn https<C>(tls: ClientConfig, inner: C) -> HttpsConnector<C> {
    HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(inner)
}

/// A keep-alive pool over `connector`.
fn pool<C: Connect + Clone + Send + Sync + 'static>(connector: C) -> Client<C, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .build(connector)
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
    tls: bool,
}

impl HttpError {
    /// True when no connection could be made, so the request surely never
    /// reached the server.
    pub fn is_connect(&self) -> bool {
        self.connect
    }

    /// True when the TLS handshake failed for good: the server's
    /// certificate was refused (an issuer not trusted here, another name,
    /// expired), the server refused us or shares no protocol with us, or
    /// it does not speak TLS (plain HTTP on an `https://` URL). Trying
    /// again cannot help, so the SDK does not.
    pub fn is_tls_failure(&self) -> bool {
        self.tls
    }
}

/// Whether `error` comes from a TLS handshake that failed for good.
/// hyper-rustls hands rustls's error up wrapped in an `io::Error` (twice),
/// and an `io::Error`'s `source` skips what it wraps, so the walk goes
/// into each one it meets.
fn tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return permanent(tls);
        }
        cause = match error.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => error.source(),
        };
    }
    false
}

/// Handshake failures that trying again cannot fix: the certificate was
/// refused for what it is (its issuer, its names, its dates), the server
/// refused us or shares no protocol with us, or it does not speak TLS at
/// all (plain HTTP on the port). A certificate whose revocation status
/// could not be learnt, or that the platform's verifier refused for a
/// reason it does not name, may pass another time.
fn permanent(error: &rustls::Error) -> bool {
    use rustls::{AlertDescription, CertificateError, Error};
    match error {
        Error::InvalidCertificate(why) => !matches!(
            why,
            CertificateError::Other(_) | CertificateError::UnknownRevocationStatus
        ),
        Error::AlertReceived(alert) => matches!(
            alert,
            AlertDescription::HandshakeFailure
                | AlertDescription::ProtocolVersion
                | AlertDescription::CertificateRequired
                | AlertDescription::InsufficientSecurity
                | AlertDescription::UnrecognisedName
        ),
        Error::NoCertificatesPresented
        | Error::UnsupportedNameType
        | Error::PeerIncompatible(_)
        | Error::InvalidMessage(_) => true,
        _ => false,
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
            .field("tls", &self.tls)
            .field("error", &self.inner)
            .finish()
    }
}

/// The message already names every cause, so none is repeated as a source.
impl std::error::Error for HttpError {}
