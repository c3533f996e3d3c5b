//! The client address of an HTTP request, for the budgets of [`crate::limits`].
//!
//! The client address is the TCP peer, or, when the peer is one of the configured
//! `[http] trusted_proxies`, the rightmost address of `X-Forwarded-For` that is not a
//! trusted proxy (what a reverse proxy in front appends). Without trusted proxies the
//! header is ignored: a client cannot choose its own address.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::error::ApiError;
pub use crate::limits::ClientAddr;
use crate::state::AppState;

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            // Routers served without connection info (unit tests of a router) share
            // one budget.
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(ClientAddr(client_address(
            peer,
            parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok()),
            &state.settings.trusted_proxies,
        )))
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy, then the
/// rightmost forwarded address that is not one.
pub fn client_address<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[IpAddr],
) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops: Vec<IpAddr> = forwarded
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    hops.into_iter()
        .rev()
        .find(|h| !trusted.contains(h))
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let forged = "198.51.100.1, 203.0.113.7";
        assert_eq!(
            client_address(client, [forged].into_iter(), &[proxy]),
            client,
            "an untrusted peer is the client, whatever it claims"
        );
        assert_eq!(
            client_address(proxy, [forged].into_iter(), &[proxy]),
            client,
            "the rightmost hop the proxy appended"
        );
        assert_eq!(
            client_address(proxy, std::iter::empty(), &[proxy]),
            proxy,
            "no header: the proxy itself"
        );
    }
}
