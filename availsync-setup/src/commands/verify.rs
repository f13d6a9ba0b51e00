//! Checks a URL and key against the server before anything is stored or
//! written.

use std::time::Duration;

use availsync_sdk::{ActivityQuery, Client, RetryPolicy};

/// Why a URL and key were not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Nothing answered at the URL.
    #[error(
        "cannot reach the Availsync server at {url}: {detail}. Is it running, and is the URL right?"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The TLS handshake failed for good: the server's certificate was
    /// refused, or it does not speak TLS.
    #[error(
        "cannot verify the Availsync server at {url}: {detail}. Check the URL; if the server's certificate comes from a private CA, point SSL_CERT_FILE at that CA's certificate"
    )]
    Untrusted {
        /// The URL tried.
        url: String,
        /// What failed.
        detail: String,
    },
    /// The server refused the key.
    #[error(
        "the server at {url} rejected the key: it may be mistyped, rotated, or its agent deleted. Create a key in the dashboard and try again"
    )]
    Rejected {
        /// The URL tried.
        url: String,
    },
    /// Anything else.
    #[error("the server at {url} answered unexpectedly: {detail}")]
    Other {
        /// The URL tried.
        url: String,
        /// The error.
        detail: String,
    },
}

impl VerifyError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Unreachable { .. } => crate::exit::UNAVAILABLE,
            Self::Untrusted { .. } => crate::exit::CONFIG,
            Self::Rejected { .. } => crate::exit::CONFIG,
            Self::Other { .. } => crate::exit::SOFTWARE,
        }
    }
}

/// A client with short timeouts and no retries: the setup test and login
/// should answer quickly.
pub fn quick_client(url: &str, key: &str) -> Result<Client, availsync_sdk::Error> {
    Client::builder()
        .base_url(url)
        .api_key(key)
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(3))
        .retry_policy(RetryPolicy::none())
        .user_agent(concat!("availsync-setup/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Classifies an SDK error.
pub fn classify(url: &str, error: &availsync_sdk::Error) -> VerifyError {
    use availsync_sdk::Error;
    match error {
        e if e.is_tls_failure() => VerifyError::Untrusted {
            url: url.to_owned(),
            detail: root_cause(error),
        },
        Error::Transport { .. } | Error::Timeout { .. } => VerifyError::Unreachable {
            url: url.to_owned(),
            detail: root_cause(error),
        },
        e if e.is_unauthenticated() => VerifyError::Rejected {
            url: url.to_owned(),
        },
        e => VerifyError::Other {
            url: url.to_owned(),
            detail: crate::describe::sdk_error(e),
        },
    }
}

fn root_cause(error: &dyn std::error::Error) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Health, then one authenticated read.
pub async fn verify(url: &str, key: &str) -> Result<(), VerifyError> {
    let client = quick_client(url, key).map_err(|e| VerifyError::Other {
        url: url.to_owned(),
        detail: crate::describe::sdk_error(&e),
    })?;
    client.health().await.map_err(|e| classify(url, &e))?;
    let query = ActivityQuery {
        limit: Some(1),
        ..ActivityQuery::default()
    };
    client
        .activity_page(&query, None)
        .await
        .map_err(|e| classify(url, &e))?;
    Ok(())
}
