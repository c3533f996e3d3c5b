//! Logging set-up. Logs go to stderr as text; `RUST_LOG` (or `VIVA_LOG`) filters them.
//! Personal data in log fields goes through [`Pii`], which prints a short, stable
//! fingerprint instead of the value.

use std::fmt;

use sha2::{Digest, Sha256};
use tracing_subscriber::EnvFilter;

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
        let digest = Sha256::digest(self.0.as_bytes());
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
    fn pii_never_shows_the_value_and_is_stable() {
        let a = Pii("张三").to_string();
        assert!(!a.contains("张三"));
        assert_eq!(a, Pii("张三").to_string());
        assert_ne!(a, Pii("李四").to_string());
    }
}
