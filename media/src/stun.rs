//! Just enough STUN parsing to demultiplex one UDP port among many peer connections.
//!
//! Every ICE connectivity check a browser sends carries `USERNAME = <our ufrag>:<its
//! ufrag>` (RFC 8445 §7.2.2). The SFU gives every participant a distinct local ufrag,
//! so the first check from a new address tells which participant it belongs to. Before
//! the address is believed, [`is_authentic`] checks the check's MESSAGE-INTEGRITY
//! with that participant's ICE password (RFC 5389 §15.4, short-term credentials): an
//! unauthenticated packet must never steer where media goes.

use hmac::{Hmac, Mac};
use sha1::Sha1;

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const HEADER_LEN: usize = 20;
const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const INTEGRITY_LEN: usize = 20;

/// Whether a datagram looks like STUN (RFC 7983 demultiplexing: first byte 0..=3 and
/// the magic cookie in place).
pub fn is_stun(packet: &[u8]) -> bool {
    packet.len() >= HEADER_LEN && packet[0] < 4 && packet[4..8] == MAGIC_COOKIE
}

/// One attribute: (type, where its header starts, its value).
fn attributes(packet: &[u8]) -> impl Iterator<Item = (u16, usize, &[u8])> {
    let declared = if is_stun(packet) {
        u16::from_be_bytes([packet[2], packet[3]]) as usize
    } else {
        0
    };
    let end = (HEADER_LEN + declared).min(packet.len());
    let mut at = HEADER_LEN;
    std::iter::from_fn(move || {
        if at + 4 > end {
            return None;
        }
        let kind = u16::from_be_bytes([packet[at], packet[at + 1]]);
        let len = u16::from_be_bytes([packet[at + 2], packet[at + 3]]) as usize;
        let value_start = at + 4;
        let value_end = value_start.checked_add(len)?;
        if value_end > end {
            return None;
        }
        let start = at;
        // Attributes are padded to 4 bytes.
        at = value_start + len.div_ceil(4) * 4;
        Some((kind, start, &packet[value_start..value_end]))
    })
}

/// The local (our) ufrag from a STUN message's USERNAME attribute, if present.
pub fn local_ufrag(packet: &[u8]) -> Option<&str> {
    let (_, _, value) = attributes(packet).find(|(kind, _, _)| *kind == ATTR_USERNAME)?;
    std::str::from_utf8(value).ok()?.split(':').next()
}

/// Whether a STUN message carries a MESSAGE-INTEGRITY made with `password` (the
/// short-term credential of ICE: the key is the password itself). The HMAC-SHA1
/// covers the message up to the attribute, with the header's length counting up to
/// and including it; FINGERPRINT may follow. Compared in constant time.
pub fn is_authentic(packet: &[u8], password: &str) -> bool {
    let Some((_, start, value)) =
        attributes(packet).find(|(kind, _, _)| *kind == ATTR_MESSAGE_INTEGRITY)
    else {
        return false;
    };
    if value.len() != INTEGRITY_LEN {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(password.as_bytes()) else {
        return false;
    };
    let covered_length = (start + 4 + INTEGRITY_LEN - HEADER_LEN) as u16;
    mac.update(&packet[..2]);
    mac.update(&covered_length.to_be_bytes());
    mac.update(&packet[4..start]);
    mac.verify_slice(value).is_ok()
}

/// A binding request with USERNAME and MESSAGE-INTEGRITY, as a browser's ICE agent
/// sends it (for tests and tools that must speak to the SFU's demultiplexer).
pub fn signed_binding_request(username: &str, password: &str, transaction: [u8; 12]) -> Vec<u8> {
    let mut p = vec![0x00, 0x01, 0, 0];
    p.extend_from_slice(&MAGIC_COOKIE);
    p.extend_from_slice(&transaction);
    p.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
    p.extend_from_slice(&(username.len() as u16).to_be_bytes());
    p.extend_from_slice(username.as_bytes());
    while p.len() % 4 != 0 {
        p.push(0);
    }
    let start = p.len();
    let length = (start + 4 + INTEGRITY_LEN - HEADER_LEN) as u16;
    p[2..4].copy_from_slice(&length.to_be_bytes());
    let mut mac = Hmac::<Sha1>::new_from_slice(password.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(&p);
    p.extend_from_slice(&ATTR_MESSAGE_INTEGRITY.to_be_bytes());
    p.extend_from_slice(&(INTEGRITY_LEN as u16).to_be_bytes());
    p.extend_from_slice(&mac.finalize().into_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding_request(username: &[u8]) -> Vec<u8> {
        let mut attrs = Vec::new();
        attrs.extend_from_slice(&ATTR_USERNAME.to_be_bytes());
        attrs.extend_from_slice(&(username.len() as u16).to_be_bytes());
        attrs.extend_from_slice(username);
        while attrs.len() % 4 != 0 {
            attrs.push(0);
        }
        // A PRIORITY attribute after it, to check that padding is skipped correctly.
        attrs.extend_from_slice(&[0x00, 0x24, 0x00, 0x04, 1, 2, 3, 4]);
        let mut p = vec![0x00, 0x01];
        p.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        p.extend_from_slice(&MAGIC_COOKIE);
        p.extend_from_slice(&[7; 12]);
        p.extend_from_slice(&attrs);
        p
    }

    #[test]
    fn a_check_signed_with_the_password_is_authentic_and_nothing_else_is() {
        let p = signed_binding_request("sfuUfrag1:browser", "s3cret-password-24chars!", [3; 12]);
        assert_eq!(local_ufrag(&p), Some("sfuUfrag1"));
        assert!(is_authentic(&p, "s3cret-password-24chars!"));
        assert!(
            !is_authentic(&p, "another-password"),
            "another peer's password"
        );
        let mut tampered = p.clone();
        tampered[10] ^= 1; // the transaction id
        assert!(!is_authentic(&tampered, "s3cret-password-24chars!"));
        let unsigned = binding_request(b"sfuUfrag1:browser");
        assert!(!is_authentic(&unsigned, "s3cret-password-24chars!"));
        assert!(
            !is_authentic(&p[..p.len() - 1], "s3cret-password-24chars!"),
            "truncated"
        );
    }

    #[test]
    fn the_integrity_a_browser_computes_is_accepted() {
        // RFC 5769 §2.1's sample request (short-term credentials), as every ICE
        // agent must produce it.
        let hex = "000100582112a442b7e7a701bc34d686fa87dfae802200105354554e2074657374\
                   20636c69656e74002400046e0001ff80290008932ff9b151263b36000600096576\
                   746a3a68367659202020000800149aeaa70cbfd8cb56781ef2b5b2d3f249c1b571\
                   a280280004e57a3bcf";
        let bytes: Vec<u8> = hex
            .split_whitespace()
            .collect::<String>()
            .replace('\\', "")
            .as_bytes()
            .chunks(2)
            .map(|c| u8::from_str_radix(std::str::from_utf8(c).unwrap(), 16).unwrap())
            .collect();
        assert_eq!(local_ufrag(&bytes), Some("evtj"));
        assert!(is_authentic(&bytes, "VOkJxbRl1RmTxUk/WvJxBt"));
        assert!(!is_authentic(&bytes, "VOkJxbRl1RmTxUk/WvJxBu"));
    }

    #[test]
    fn reads_the_local_ufrag_from_a_binding_request() {
        let p = binding_request(b"sfuUfrag1:browser");
        assert!(is_stun(&p));
        assert_eq!(local_ufrag(&p), Some("sfuUfrag1"));
    }

    #[test]
    fn rtp_and_dtls_are_not_stun() {
        let rtp = [
            0x80u8, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let dtls = [
            22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(!is_stun(&rtp));
        assert!(!is_stun(&dtls));
        assert_eq!(local_ufrag(&rtp), None);
    }

    #[test]
    fn truncated_or_lying_lengths_are_rejected_without_panic() {
        let mut p = binding_request(b"abc:def");
        // Attribute claims to be longer than the packet.
        p[HEADER_LEN + 3] = 200;
        assert_eq!(local_ufrag(&p), None);
        let p = binding_request(b"abc:def");
        for cut in 0..p.len() {
            let _ = local_ufrag(&p[..cut]);
        }
        // Not UTF-8.
        let p = binding_request(&[0xff, 0xfe, b':', b'x']);
        assert_eq!(local_ufrag(&p), None);
    }
}
