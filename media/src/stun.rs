//! Just enough STUN parsing to demultiplex one UDP port among many peer connections.
//!
//! Every ICE connectivity check a browser sends carries `USERNAME = <our ufrag>:<its
//! ufrag>` (RFC 8445 §7.2.2). The SFU gives every participant a distinct local ufrag,
//! so the first check from a new address tells which participant it belongs to. This
//! module only reads; authentication (MESSAGE-INTEGRITY) is checked by the ICE agent of
//! the connection the packet is handed to.

const MAGIC_COOKIE: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];
const HEADER_LEN: usize = 20;
const ATTR_USERNAME: u16 = 0x0006;

/// Whether a datagram looks like STUN (RFC 7983 demultiplexing: first byte 0..=3 and
/// the magic cookie in place).
pub fn is_stun(packet: &[u8]) -> bool {
    packet.len() >= HEADER_LEN && packet[0] < 4 && packet[4..8] == MAGIC_COOKIE
}

/// The local (our) ufrag from a STUN message's USERNAME attribute, if present.
pub fn local_ufrag(packet: &[u8]) -> Option<&str> {
    if !is_stun(packet) {
        return None;
    }
    let declared = u16::from_be_bytes([packet[2], packet[3]]) as usize;
    let end = HEADER_LEN.checked_add(declared)?.min(packet.len());
    let mut at = HEADER_LEN;
    while at + 4 <= end {
        let kind = u16::from_be_bytes([packet[at], packet[at + 1]]);
        let len = u16::from_be_bytes([packet[at + 2], packet[at + 3]]) as usize;
        let value_start = at + 4;
        let value_end = value_start.checked_add(len)?;
        if value_end > end {
            return None;
        }
        if kind == ATTR_USERNAME {
            let username = std::str::from_utf8(&packet[value_start..value_end]).ok()?;
            return username.split(':').next();
        }
        // Attributes are padded to 4 bytes.
        at = value_start + len.div_ceil(4) * 4;
    }
    None
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
