//! SDK errors as sentences for people: no Rust type names, no debug
//! formatting, no error chains as libraries print them; what failed, where,
//! and for an answer from the server its own sentence and request id.

use availsync_sdk::Error;

/// One sentence (without a final stop) saying what went wrong.
pub fn sdk_error(error: &Error) -> String {
    match error {
        Error::Transport { url, error } => {
            let detail = error.to_string();
            if error.is_tls_failure() {
                format!(
                    "the TLS handshake with {} failed: {}",
                    origin(url),
                    tls_reason(&detail)
                )
            } else {
                format!(
                    "cannot reach the Availsync server at {} ({})",
                    origin(url),
                    root_cause(&detail)
                )
            }
        }
        Error::Timeout { url, timeout } => format!(
            "the Availsync server at {} did not answer within {} s",
            origin(url),
            timeout.as_secs_f64().ceil()
        ),
        Error::Api(api) if api.request_id.is_empty() => api.message.clone(),
        Error::Api(api) => format!("{} (request id {})", api.message, api.request_id),
        Error::Decode { status, .. } => format!(
            "the server's answer (HTTP {status}) could not be read; check that the URL points at an Availsync server"
        ),
        Error::InvalidResource(e) => format!("invalid resource: {e}"),
        Error::InvalidWorkingSet { error, .. } => format!("invalid paths: {error}"),
        Error::Config(message) => message
            .trim_end_matches(" or call ClientBuilder::api_key")
            .replace("base URL", "server URL"),
        other => root_cause(&other.to_string()),
    }
}

/// `scheme://host:port` of a URL the SDK called (its path is ours, not the
/// user's).
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    match url[after_scheme..].find('/') {
        Some(at) => &url[..after_scheme + at],
        None => url,
    }
}

/// The last link of an error chain printed as `outer: inner: cause`,
/// without the OS error number: `connection refused`.
fn root_cause(chain: &str) -> String {
    let last = chain.rsplit(": ").next().unwrap_or(chain).trim();
    let last = match last.find(" (os error") {
        Some(at) => &last[..at],
        None => last,
    };
    let mut chars = last.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => chain.to_owned(),
    }
}

/// Why a TLS handshake failed, from the TLS library's message.
fn tls_reason(detail: &str) -> String {
    let reasons: [(&[&str], &str); 8] = [
        (
            &["UnknownIssuer", "unknown issuer", "UnknownCA"],
            "its certificate is signed by a certificate authority this machine does not trust",
        ),
        (
            &["NotValidForName", "not valid for name"],
            "its certificate is for another host name",
        ),
        (&["Expired"], "its certificate has expired"),
        (&["NotValidYet"], "its certificate is not valid yet"),
        (&["Revoked"], "its certificate has been revoked"),
        (
            &[
                "BadSignature",
                "BadEncoding",
                "UnsupportedSignatureAlgorithm",
            ],
            "its certificate cannot be verified",
        ),
        (
            &["InvalidContentType", "corrupt message", "InvalidMessage"],
            "it does not speak TLS there (should the URL start with http://?)",
        ),
        (
            &["HandshakeFailure", "PeerIncompatible", "ProtocolVersion"],
            "it shares no TLS version or cipher suite with this client",
        ),
    ];
    reasons
        .iter()
        .find(|(needles, _)| needles.iter().any(|n| detail.contains(n)))
        .map_or_else(
            || "its certificate was refused".to_owned(),
            |(_, reason)| (*reason).to_owned(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_end_in_their_cause() {
        assert_eq!(
            root_cause(
                "client error (Connect): tcp connect error: Connection refused (os error 111)"
            ),
            "connection refused"
        );
        assert_eq!(
            origin("http://127.0.0.1:9/v1/work/run/start"),
            "http://127.0.0.1:9"
        );
        assert_eq!(origin("https://example.com"), "https://example.com");
    }

    #[test]
    fn tls_failures_name_no_library_types() {
        let reason = tls_reason("invalid peer certificate: UnknownIssuer");
        assert!(reason.contains("does not trust"), "{reason}");
        assert!(!reason.contains("UnknownIssuer"));
    }
}
