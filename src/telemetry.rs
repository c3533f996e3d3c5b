//! Logging set-up. Logs go to stderr as text; `RUST_LOG` (or `VIVA_LOG`) filters them.
//! Personal data in log fields goes through [`Pii`], which prints a short, stable
//! fingerprint instead of the value: an HMAC keyed with a server secret
//! ([`set_pseudonym_key`]), so that a list of names cannot be hashed and matched
//! against the logs by someone without the key.

use std::fmt;
use std::sync::OnceLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing_subscriber::EnvFilter;

static PSEUDONYM_KEY: OnceLock<[u8; 32]> = OnceLock::new();

/// Sets the key of log pseudonyms, derived from the server's signing key (so they
/// stay stable across restarts). The first call wins; without one, a random key per
/// process is used.
pub fn set_pseudonym_key(signing_key: &[u8]) {
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"viva log pseudonyms v1");
    let _ = PSEUDONYM_KEY.set(mac.finalize().into_bytes().into());
}

fn pseudonym_key() -> &'static [u8; 32] {
    PSEUDONYM_KEY.get_or_init(rand::random)
}

/// Installs the global subscriber (idempotent: a second call is ignored, which tests
/// rely on).
pub fn init() {
    let filter = std::env::var("VIVA_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info,sqlx=warn,rtc=warn,webrtc=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Personal data (names, e-mail addresses) in a log field: shown as a fingerprint so
/// that log lines about the same person can still be correlated.
pub struct Pii<'a>(pub &'a str);

impl fmt::Debug for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Pii<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut mac = Hmac::<Sha256>::new_from_slice(pseudonym_key())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(self.0.as_bytes());
        let digest = mac.finalize().into_bytes();
        write!(
            f,
            "pii:{:02x}{:02x}{:02x}{:02x}",
            digest[0], digest[1], digest[2], digest[3]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_not_a_plain_hash_of_the_name() {
        use sha2::Digest;
        let plain = Sha256::digest("张三".as_bytes());
        let guessed = format!(
            "pii:{:02x}{:02x}{:02x}{:02x}",
            plain[0], plain[1], plain[2], plain[3]
        );
        assert_ne!(
            Pii("张三").to_string(),
            guessed,
            "keyed with a server secret"
        );
    }

    #[test]
    fn pii_never_shows_the_value_and_is_stable() {
        let a = Pii("张三").to_string();
        assert!(!a.contains("张三"));
        assert_eq!(a, Pii("张三").to_string());
        assert_ne!(a, Pii("李四").to_string());
    }
}
