//! Where a request comes from, for throttling: the TCP peer's address, or,
//! when the server is started with `--trust-forwarded-for` behind a proxy,
//! the first `X-Forwarded-For` hop (SPEC §5).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;

/// The client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The address as the store keeps it (IPv4-mapped IPv6 as IPv4).
    pub fn key(&self) -> String {
        self.0.to_canonical().to_string()
    }
}

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.config.trust_forwarded_for
            && let Some(first) = first_forwarded_hop(parts)
        {
            return Ok(Self(first));
        }
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(Self(peer))
    }
}

/// The first address of the first `X-Forwarded-For` header, when it parses.
fn first_forwarded_hop(parts: &Parts) -> Option<IpAddr> {
    let header = parts.headers.get("x-forwarded-for")?.to_str().ok()?;
    let first = header.split(',').next()?.trim();
    first
        .parse::<IpAddr>()
        .ok()
        .or_else(|| first.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(forwarded: &str) -> Parts {
        let (parts, ()) = axum::http::Request::builder()
            .header("x-forwarded-for", forwarded)
            .body(())
            .unwrap()
            .into_parts();
        parts
    }

    #[test]
    fn the_first_hop_is_taken_with_or_without_a_port() {
        assert_eq!(
            first_forwarded_hop(&parts("203.0.113.7, 10.0.0.1")),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(
            first_forwarded_hop(&parts("[2001:db8::1]:443")),
            Some("2001:db8::1".parse().unwrap())
        );
        assert_eq!(first_forwarded_hop(&parts("unknown")), None);
    }

    #[test]
    fn mapped_addresses_are_keyed_as_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(ClientAddr(mapped).key(), "192.0.2.1");
    }
}
