//! Signed, time-boxed tokens.
//!
//! Format: `v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256(key, "v1." + claims))>`.
//! The claims name their purpose, so a join grant can never be used as an
//! administrator sign-in or the reverse. Verification order matters: nothing inside a
//! token is believed (not even its expiry) before its signature is checked, and the
//! signature is compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use scheduler::Role;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

const VERSION: &str = "v1";

/// Why a token was refused. Shown to its holder, so it never says more than they
/// could know already.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of ours (wrong shape, bad encoding, unknown version).
    #[error("the link or token is not valid")]
    Malformed,
    /// The signature does not match: altered, or signed by someone else.
    #[error("the link or token is not valid")]
    BadSignature,
    /// Signed by us but for something else.
    #[error("the link or token is not valid here")]
    WrongPurpose,
    /// Valid from a later time.
    #[error("the link is not valid yet; it opens at {0}")]
    NotYetValid(DateTime<Utc>),
    /// Past its end.
    #[error("the link has expired (at {0})")]
    Expired(DateTime<Utc>),
}

impl TokenError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed | TokenError::BadSignature | TokenError::WrongPurpose => {
                "invalid_token"
            }
            TokenError::NotYetValid(_) => "not_yet_valid",
            TokenError::Expired(_) => "expired",
        }
    }
}

/// What a personal join link allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinGrant {
    /// Session.
    pub sid: Uuid,
    /// Participant.
    pub pid: Uuid,
    /// Role in the session.
    pub role: Role,
    /// May send media.
    #[serde(rename = "pub")]
    pub may_publish: bool,
    /// May receive media.
    #[serde(rename = "sub")]
    pub may_subscribe: bool,
    /// Valid from (unix seconds).
    pub nbf: i64,
    /// Valid until (unix seconds).
    pub exp: i64,
    /// The participant's link generation when it was issued: revoking their links
    /// raises theirs, and a grant of an older generation is void. Links issued before
    /// revocation existed carry none and count as 0.
    #[serde(rename = "gen", default, skip_serializing_if = "is_zero")]
    pub generation: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An administrator's sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminClaims {
    /// The account.
    pub uid: Uuid,
    /// Issued at (unix seconds).
    pub nbf: i64,
    /// Valid until (unix seconds).
    pub exp: i64,
}

/// A short-lived link to one recording's media, bound to who asked and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaClaims {
    /// The recording.
    pub rid: Uuid,
    /// Who asked: an administrator's account or a participant's id.
    pub uid: Uuid,
    /// Whether `uid` is an administrator (else a participant of the session).
    pub adm: bool,
    /// `play` (inline, HLS) or `download` (the MP4 as an attachment).
    pub use_: String,
    /// Issued (unix seconds).
    pub nbf: i64,
    /// Valid until (unix seconds).
    pub exp: i64,
}

impl Claims for MediaClaims {
    const PURPOSE: &'static str = "media";
    fn window(&self) -> (i64, i64) {
        (self.nbf, self.exp)
    }
}

/// A per-session bearer token for WHIP ingest (a trainer's studio encoder).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhipClaims {
    /// The training session.
    pub sid: Uuid,
    /// The participant the feed is published as (the trainer).
    pub pid: Uuid,
    /// Issued (unix seconds).
    pub nbf: i64,
    /// Valid until (unix seconds).
    pub exp: i64,
}

impl Claims for WhipClaims {
    const PURPOSE: &'static str = "whip";
    fn window(&self) -> (i64, i64) {
        (self.nbf, self.exp)
    }
}

trait Claims: Serialize + DeserializeOwned {
    const PURPOSE: &'static str;
    fn window(&self) -> (i64, i64);
}

impl Claims for JoinGrant {
    const PURPOSE: &'static str = "join";
    fn window(&self) -> (i64, i64) {
        (self.nbf, self.exp)
    }
}

impl Claims for AdminClaims {
    const PURPOSE: &'static str = "admin";
    fn window(&self) -> (i64, i64) {
        (self.nbf, self.exp)
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    purpose: String,
    #[serde(flatten)]
    claims: T,
}

/// Signs and verifies tokens with one key.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(***)")
    }
}

fn unix_to_utc(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or_default()
}

impl Signer {
    /// A signer with this key (at least 32 bytes of entropy is the caller's duty).
    pub fn new(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length; this cannot fail.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!())
    }

    fn sign<T: Claims>(&self, claims: &T) -> String {
        let envelope = Envelope {
            purpose: T::PURPOSE.to_owned(),
            claims,
        };
        let json = serde_json::to_vec(&envelope).unwrap_or_default();
        let body = format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(json));
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{body}.{signature}")
    }

    fn verify<T: Claims>(&self, token: &str, now: DateTime<Utc>) -> Result<T, TokenError> {
        let claims: T = self.authentic(token)?;
        let (nbf, exp) = claims.window();
        let now = now.timestamp();
        if now < nbf {
            return Err(TokenError::NotYetValid(unix_to_utc(nbf)));
        }
        if now >= exp {
            return Err(TokenError::Expired(unix_to_utc(exp)));
        }
        Ok(claims)
    }

    /// The claims of a token this server signed for `T`'s purpose, whatever its
    /// validity window.
    fn authentic<T: Claims>(&self, token: &str) -> Result<T, TokenError> {
        let (body, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
        let (version, payload) = body.split_once('.').ok_or(TokenError::Malformed)?;
        if version != VERSION {
            return Err(TokenError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(body.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| TokenError::Malformed)?;
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if envelope.purpose != T::PURPOSE {
            return Err(TokenError::WrongPurpose);
        }
        serde_json::from_value(envelope.claims).map_err(|_| TokenError::Malformed)
    }

    /// Signs a WHIP ingest token.
    pub fn sign_whip(&self, claims: &WhipClaims) -> String {
        self.sign(claims)
    }

    /// Checks a WHIP ingest token.
    pub fn verify_whip(&self, token: &str, now: DateTime<Utc>) -> Result<WhipClaims, TokenError> {
        self.verify(token, now)
    }

    /// Signs a media link.
    pub fn sign_media(&self, claims: &MediaClaims) -> String {
        self.sign(claims)
    }

    /// Checks a media link.
    pub fn verify_media(&self, token: &str, now: DateTime<Utc>) -> Result<MediaClaims, TokenError> {
        self.verify(token, now)
    }

    /// Signs a join grant.
    pub fn sign_join(&self, grant: &JoinGrant) -> String {
        self.sign(grant)
    }

    /// Verifies a join link's token at `now`.
    pub fn verify_join(&self, token: &str, now: DateTime<Utc>) -> Result<JoinGrant, TokenError> {
        self.verify(token, now)
    }

    /// The grant of a join link this server signed, even outside its validity window:
    /// only to attribute a refused join to its session (never to admit anyone).
    pub fn authentic_join(&self, token: &str) -> Option<JoinGrant> {
        self.authentic(token).ok()
    }

    /// Signs an administrator sign-in.
    pub fn sign_admin(&self, claims: &AdminClaims) -> String {
        self.sign(claims)
    }

    /// Verifies an administrator's bearer token at `now`.
    pub fn verify_admin(&self, token: &str, now: DateTime<Utc>) -> Result<AdminClaims, TokenError> {
        self.verify(token, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(nbf: i64, exp: i64) -> JoinGrant {
        JoinGrant {
            generation: 0,
            sid: Uuid::new_v4(),
            pid: Uuid::new_v4(),
            role: Role::Expert,
            may_publish: true,
            may_subscribe: true,
            nbf,
            exp,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        unix_to_utc(secs)
    }

    #[test]
    fn a_grant_verifies_inside_its_window_only() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef");
        let g = grant(1_000, 2_000);
        let token = signer.sign_join(&g);
        assert_eq!(signer.verify_join(&token, at(1_000)).unwrap(), g);
        assert_eq!(signer.verify_join(&token, at(1_999)).unwrap(), g);
        assert_eq!(
            signer.verify_join(&token, at(999)).unwrap_err(),
            TokenError::NotYetValid(at(1_000))
        );
        assert_eq!(
            signer.verify_join(&token, at(2_000)).unwrap_err(),
            TokenError::Expired(at(2_000))
        );
    }

    #[test]
    fn tampering_with_any_byte_is_detected() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef");
        let token = signer.sign_join(&grant(0, i64::MAX / 2));
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(tampered) = String::from_utf8(bytes) else {
                continue;
            };
            if tampered == token {
                continue;
            }
            assert!(
                signer.verify_join(&tampered, at(10)).is_err(),
                "byte {i} changed but token still verified"
            );
        }
    }

    #[test]
    fn a_foreign_key_is_refused() {
        let ours = Signer::new(b"0123456789abcdef0123456789abcdef");
        let theirs = Signer::new(b"fedcba9876543210fedcba9876543210");
        let token = theirs.sign_join(&grant(0, i64::MAX / 2));
        assert_eq!(
            ours.verify_join(&token, at(10)).unwrap_err(),
            TokenError::BadSignature
        );
    }

    #[test]
    fn purposes_do_not_mix() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef");
        let admin = signer.sign_admin(&AdminClaims {
            uid: Uuid::new_v4(),
            nbf: 0,
            exp: i64::MAX / 2,
        });
        assert_eq!(
            signer.verify_join(&admin, at(10)).unwrap_err(),
            TokenError::WrongPurpose
        );
        let join = signer.sign_join(&grant(0, i64::MAX / 2));
        assert_eq!(
            signer.verify_admin(&join, at(10)).unwrap_err(),
            TokenError::WrongPurpose
        );
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        let signer = Signer::new(b"0123456789abcdef0123456789abcdef");
        for junk in [
            "",
            ".",
            "..",
            "v1..",
            "v2.e30.AAAA",
            "v1.!!!.AAAA",
            "no dots",
        ] {
            assert!(signer.verify_join(junk, at(0)).is_err(), "{junk:?}");
        }
    }
}
