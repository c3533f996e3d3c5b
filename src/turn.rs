//! TURN relay credentials for participants whose network lets only TLS out (a relay
//! such as coturn on `turns:…:443`). Viva runs no TURN server: it hands each
//! participant short-lived credentials in the TURN REST API scheme that coturn's
//! `use-auth-secret` checks (username `<expiry>:<participant>`, password
//! `base64(HMAC-SHA1(secret, username))`), valid no longer than their grant.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;
use uuid::Uuid;

use crate::config::TurnConfig;

/// One ICE server as a browser's `RTCPeerConnection` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct IceServer {
    /// `turn:` / `turns:` URLs.
    pub urls: Vec<String>,
    /// `<expiry unix seconds>:<participant id>`.
    pub username: String,
    /// The HMAC of the username with the shared secret.
    pub credential: String,
}

/// Credentials for `who`, valid until the earlier of `until` (their grant's end) and
/// the configured longest lifetime; `None` without TURN configured.
pub fn ice_servers(
    config: &TurnConfig,
    who: Uuid,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<IceServer> {
    if config.urls.is_empty() || config.secret.is_empty() {
        return None;
    }
    let longest = now + chrono::Duration::hours(i64::from(config.max_lifetime_hours.max(1)));
    let expiry = until.min(longest).max(now);
    let username = format!("{}:{who}", expiry.timestamp());
    let mut mac = Hmac::<Sha1>::new_from_slice(config.secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(username.as_bytes());
    let credential = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    Some(IceServer {
        urls: config.urls.clone(),
        username,
        credential,
    })
}

/// The `Link` header values of a WHIP answer that name the relay (RFC 9725 §4.6).
pub fn link_headers(server: &IceServer) -> Vec<String> {
    server
        .urls
        .iter()
        .map(|url| {
            format!(
                "<{url}>; rel=\"ice-server\"; username=\"{}\"; credential=\"{}\"; credential-type=\"password\"",
                server.username, server.credential
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn config() -> TurnConfig {
        TurnConfig {
            urls: vec!["turns:turn.example.org:443?transport=tcp".into()],
            secret: Secret::new("north-gate-secret"),
            max_lifetime_hours: 12,
        }
    }

    #[test]
    fn credentials_follow_the_turn_rest_scheme_coturn_checks() {
        let who = Uuid::nil();
        let now: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let until: DateTime<Utc> = "2026-12-01T02:00:00Z".parse().unwrap();
        let s = ice_servers(&config(), who, until, now).unwrap();
        assert_eq!(s.username, format!("{}:{who}", until.timestamp()));
        // openssl: echo -n "$username" | openssl dgst -sha1 -hmac north-gate-secret -binary | base64
        let mut mac = Hmac::<Sha1>::new_from_slice(b"north-gate-secret").unwrap();
        mac.update(s.username.as_bytes());
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert_eq!(s.credential, expected);
    }

    #[test]
    fn credentials_never_outlive_the_grant_or_the_longest_lifetime() {
        let now: DateTime<Utc> = "2026-12-01T00:00:00Z".parse().unwrap();
        let grant_end = now + chrono::Duration::days(3);
        let s = ice_servers(&config(), Uuid::nil(), grant_end, now).unwrap();
        let expiry: i64 = s.username.split(':').next().unwrap().parse().unwrap();
        assert_eq!(expiry, (now + chrono::Duration::hours(12)).timestamp());
        let soon = now + chrono::Duration::minutes(30);
        let s = ice_servers(&config(), Uuid::nil(), soon, now).unwrap();
        assert!(s.username.starts_with(&soon.timestamp().to_string()));
        let mut off = config();
        off.urls.clear();
        assert!(ice_servers(&off, Uuid::nil(), soon, now).is_none());
    }

    #[test]
    fn whip_answers_name_the_relay_in_link_headers() {
        let now = Utc::now();
        let s = ice_servers(
            &config(),
            Uuid::nil(),
            now + chrono::Duration::hours(1),
            now,
        )
        .unwrap();
        let links = link_headers(&s);
        assert_eq!(links.len(), 1);
        assert!(
            links[0].starts_with("<turns:turn.example.org:443?transport=tcp>; rel=\"ice-server\"")
        );
        assert!(links[0].contains("credential-type=\"password\""));
    }
}
