//! Fuzz targets of the server's own parsers of untrusted bytes: signaling messages,
//! tokens (join links, sign-ins, media links, WHIP tokens) and WHIP offers. Each
//! function takes arbitrary bytes and panics only when an invariant breaks. The
//! `fuzz/` crate runs them under AFL++ (`scripts/fuzz.sh TARGET SECONDS`); the
//! `fuzz_corpus` tests replay every stored input as a regression test. The media
//! plane's targets are in `media::fuzzing`, the scheduler's in `scheduler::fuzzing`.

use chrono::{DateTime, Utc};

use crate::auth::Signer;
use crate::signaling::protocol::parse_client_message;

/// A signaling message: parsed or refused with a code, never a panic; and what the
/// server understood is exactly what it would write back.
pub fn signaling(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_client_message(text) {
        Ok(message) => {
            let _ = crate::signaling::commands::action_name(&message);
            let written = serde_json::to_string(&message).expect("a parsed message serializes");
            let again = parse_client_message(&written).expect("what was written parses");
            assert_eq!(again, message, "{written}");
        }
        Err(e) => {
            let _ = (e.code(), e.to_string());
        }
    }
}

/// A token as any door takes it: refused or verified, never a panic; a token that
/// verifies as one purpose never verifies as another.
pub fn token(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let signer = Signer::new(b"fuzzing-signing-key-0123456789abcdef");
    let now: DateTime<Utc> = DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
    let purposes = [
        signer.verify_join(&text, now).is_ok(),
        signer.verify_admin(&text, now).is_ok(),
        signer.verify_media(&text, now).is_ok(),
        signer.verify_whip(&text, now).is_ok(),
    ];
    assert!(purposes.iter().filter(|ok| **ok).count() <= 1);
    let _ = signer.authentic_join(&text);
}

/// A WHIP body: the HTTP checks, then what the media thread does with the offer.
pub fn whip_offer(data: &[u8]) {
    if let Ok(offer) = crate::ingest::parse_offer(data) {
        media::fuzzing::sdp(offer.as_bytes());
    }
}
