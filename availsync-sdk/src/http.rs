//! The HTTP client under the SDK: reqwest, either built here with the
//! SDK's defaults or handed in by the user
//! ([`ClientBuilder::http_client`], and behind the `middleware` feature
//! [`ClientBuilder::middleware_client`]), and the classification of what
//! went wrong when a call got no answer.
//!
//! The client built here follows no redirects (the API never redirects)
//! and does no retries of its own: the SDK retries on its own idempotent
//! terms ([`crate::transport`]).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::HeaderMap;
use reqwest::{Method, Response, Url};

use crate::config::ClientBuilder;
use crate::error::{Error, Result};

/// How long an idle pooled connection is kept for the next call: below the
/// reference server's keep-alive idle timeout (20 s by default), so that a
/// call is not sent on a connection the server is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the TCP stack waits before probing an idle connection, and
/// between probes: a pooled connection that a NAT or load balancer
/// dropped silently is noticed before a call is sent on it.
const TCP_KEEPALIVE: Duration = Duration::from_secs(15);

/// The client calls go through. Cheap to clone: clones share one pool.
#[derive(Clone, Debug)]
pub(crate) enum HttpClient {
    /// A plain reqwest client, the SDK's own or the user's.
    Reqwest(reqwest::Client),
    /// The user's reqwest client wrapped in their middleware.
    #[cfg(feature = "middleware")]
    Middleware(reqwest_middleware::ClientWithMiddleware),
}

impl HttpClient {
    /// The user's client when they gave one, else the SDK's own for calls
    /// to `base`.
    pub(crate) fn for_base(config: &ClientBuilder, base: &Url) -> Result<Self> {
        match &config.http {
            Some(http) => Ok(http.clone()),
            None => own_client(config, base).map(Self::Reqwest),
        }
    }

    /// Sends one request and answers its response, whose body is still to
    /// be read. Bounding its time is the caller's job.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: Url,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> std::result::Result<Response, HttpError> {
        match self {
            Self::Reqwest(client) => {
                let mut request = client.request(method, url).headers(headers);
                if let Some(body) = body {
                    request = request.body(body);
                }
                request.send().await.map_err(HttpError::from)
            }
            #[cfg(feature = "middleware")]
            Self::Middleware(client) => {
                let mut request = client.request(method, url).headers(headers);
                if let Some(body) = body {
                    request = request.body(body);
                }
                request.send().await.map_err(HttpError::from)
            }
        }
    }
}

/// The SDK's own client: HTTP/1.1 keep-alive pool, TCP keep-alive, the
/// builder's connect timeout and user agent, proxies from the environment
/// (and, on macOS and Windows, the system's settings), no redirects, no
/// retries of reqwest's own. For an `http://` base no CA certificates are
/// loaded, so a machine without any can still call a plain-HTTP server.
fn own_client(config: &ClientBuilder, base: &Url) -> Result<reqwest::Client> {
    let https = base.scheme() == "https";
    if https && !cfg!(any(feature = "rustls", feature = "native-tls")) {
        return Err(Error::Config(format!(
            "{base} is an https:// URL, but availsync-sdk was built without TLS: \
             enable its rustls or native-tls feature, or give it a client of your own"
        )));
    }
    let user_agent =
        reqwest::header::HeaderValue::try_from(config.user_agent.as_str()).map_err(|_| {
            Error::Config(format!(
                "user agent {:?} holds characters an HTTP header cannot carry",
                config.user_agent
            ))
        })?;
    let builder = reqwest::Client::builder()
        .user_agent(user_agent)
        .connect_timeout(config.connect_timeout)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_nodelay(true)
        .tcp_keepalive(TCP_KEEPALIVE)
        .tcp_keepalive_interval(TCP_KEEPALIVE)
        .tcp_keepalive_retries(3)
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never());
    #[cfg(all(feature = "rustls", not(feature = "native-tls")))]
    let builder = builder.tls_backend_rustls();
    #[cfg(feature = "native-tls")]
    let builder = builder.tls_backend_native();
    #[cfg(any(feature = "rustls", feature = "native-tls"))]
    let builder = if https {
        builder
    } else {
        builder.tls_certs_only([])
    };
    builder.build().map_err(|e| {
        let what = if https {
            "cannot set up TLS for https://"
        } else {
            "cannot set up the HTTP client"
        };
        Error::Config(format!("{what}: {}", Chain(&e)))
    })
}

/// Why a call got no answer: the connection could not be made, or broke
/// before the answer was read.
///
/// Its message names the cause and every cause behind it, e.g. `error
/// sending request: client error (Connect): tcp connect error: Connection
/// refused (os error 111)`.
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
    ///
    /// Recognised for the TLS backends the SDK was built with (its
    /// `rustls` and `native-tls` features), also in a client of your own.
    pub fn is_tls_failure(&self) -> bool {
        self.tls
    }

    /// The error the HTTP client gave: a [`reqwest::Error`], or with the
    /// `middleware` feature a `reqwest_middleware::Error`.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.inner
    }
}

impl From<reqwest::Error> for HttpError {
    fn from(error: reqwest::Error) -> Self {
        // The SDK's own error names the URL already.
        let error = error.without_url();
        Self {
            connect: error.is_connect(),
            tls: tls_failure(&error),
            inner: Box::new(error),
        }
    }
}

#[cfg(feature = "middleware")]
impl From<reqwest_middleware::Error> for HttpError {
    fn from(error: reqwest_middleware::Error) -> Self {
        match error {
            reqwest_middleware::Error::Reqwest(error) => error.into(),
            reqwest_middleware::Error::Middleware(error) => {
                // A middleware's own error, or one it wrapped around
                // reqwest's: the first reqwest error in the chain says
                // whether a connection was made.
                let root: &(dyn std::error::Error + 'static) = error.as_ref();
                let connect = causes(root)
                    .find_map(|e| e.downcast_ref::<reqwest::Error>())
                    .is_some_and(reqwest::Error::is_connect);
                Self {
                    connect,
                    tls: tls_failure(root),
                    inner: error.into(),
                }
            }
        }
    }
}

/// `error` and every cause behind it. An `io::Error`'s `source` skips the
/// error it wraps (the TLS libraries' errors reach us wrapped in one, at
/// times twice), so the walk goes into each one it meets.
fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |error| {
        match error.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as _),
            None => error.source(),
        }
    })
}

/// Whether `error` comes from a TLS handshake that failed for good.
fn tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    for cause in causes(error) {
        #[cfg(feature = "rustls")]
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return rustls_permanent(tls);
        }
        #[cfg(feature = "native-tls")]
        if let Some(tls) = cause.downcast_ref::<native_tls::Error>() {
            return native_tls_permanent(tls);
        }
        let _ = cause;
    }
    false
}

/// Handshake failures that trying again cannot fix: the certificate was
/// refused for what it is (its issuer, its names, its dates), the server
/// refused us or shares no protocol with us, or it does not speak TLS at
/// all (plain HTTP on the port). A certificate whose revocation status
/// could not be learnt, or that the platform's verifier refused for a
/// reason it does not name, may pass another time.
#[cfg(feature = "rustls")]
fn rustls_permanent(error: &rustls::Error) -> bool {
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

/// native-tls does not say why a handshake failed, beyond the platform
/// library's text; a failure that is not the connection's (an I/O error
/// under it) is taken as one for good: a refused certificate, no shared
/// protocol, or a server that does not speak TLS.
#[cfg(feature = "native-tls")]
fn native_tls_permanent(error: &native_tls::Error) -> bool {
    !causes(error).any(|cause| cause.is::<std::io::Error>())
}

/// Writes an error and every cause behind it, `outer: inner: cause`.
pub(crate) struct Chain<'a>(pub(crate) &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Chain(&*self.inner).fmt(f)
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
