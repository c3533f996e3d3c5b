//! What a synthetic media packet carries, so a subscriber can tell who sent it, which
//! kind and when, without decoding anything: a VP8 payload descriptor (so SFUs see
//! keyframe starts where a real encoder would put them) or nothing (Opus), then a
//! fixed header, then padding to the wanted size. Pure.

/// Bytes of the header after the codec descriptor.
pub const HEADER_LEN: usize = 1 + 4 + 8;
/// The marker that starts the header, so stray packets are not misread.
const MAGIC: u8 = 0xA7;

/// What a subscriber reads back from a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The publishing endpoint.
    pub publisher: u32,
    /// Wall-clock nanoseconds when the packet was built, just before the connection
    /// encrypts and sends it.
    pub sent_ns: u64,
}

/// Bytes of the VP8 frame header every VP8 packet here carries after its descriptor:
/// a keyframe's is a real one (frame tag, start code, size), which SFUs that parse it
/// (Janus, to switch simulcast layers) need.
const VP8_HEADER_LEN: usize = 10;

/// A VP8 packet: the 1-byte payload descriptor (S bit on the first packet of a frame),
/// then the VP8 frame header (RFC 6386 §9.1: the lowest bit of its first byte is 0 for
/// a keyframe, which then has the start code and its `width`×`height`), then the stamp,
/// then padding to `size` bytes.
pub fn vp8(
    stamp: Stamp,
    frame_start: bool,
    keyframe: bool,
    (width, height): (u16, u16),
    size: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(size.max(1 + VP8_HEADER_LEN + HEADER_LEN));
    out.push(if frame_start { 0x10 } else { 0x00 });
    // Frame tag: show_frame (bit 4) set, P (bit 0) clear for a keyframe.
    out.extend_from_slice(&[if keyframe { 0x10 } else { 0x11 }, 0, 0]);
    if keyframe {
        out.extend_from_slice(&[0x9d, 0x01, 0x2a]);
        out.extend_from_slice(&width.to_le_bytes());
        out.extend_from_slice(&height.to_le_bytes());
    } else {
        out.extend_from_slice(&[0; VP8_HEADER_LEN - 3]);
    }
    put(&mut out, stamp);
    out.resize(size.max(out.len()), 0);
    out
}

/// An Opus packet: the stamp and padding (the SFUs do not look inside Opus).
pub fn opus(stamp: Stamp, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size.max(HEADER_LEN));
    put(&mut out, stamp);
    out.resize(size.max(out.len()), 0);
    out
}

fn put(out: &mut Vec<u8>, stamp: Stamp) {
    out.push(MAGIC);
    out.extend_from_slice(&stamp.publisher.to_be_bytes());
    out.extend_from_slice(&stamp.sent_ns.to_be_bytes());
}

/// Reads the stamp of a VP8 packet made by [`vp8`].
pub fn read_vp8(payload: &[u8]) -> Option<Stamp> {
    read(payload.get(1 + VP8_HEADER_LEN..)?)
}

/// Reads the stamp of an Opus packet made by [`opus`].
pub fn read_opus(payload: &[u8]) -> Option<Stamp> {
    read(payload)
}

fn read(bytes: &[u8]) -> Option<Stamp> {
    if bytes.len() < HEADER_LEN || bytes[0] != MAGIC {
        return None;
    }
    Some(Stamp {
        publisher: u32::from_be_bytes(bytes[1..5].try_into().ok()?),
        sent_ns: u64::from_be_bytes(bytes[5..13].try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_survive_both_packet_kinds_and_padding() {
        let stamp = Stamp {
            publisher: 0xDEAD_BEEF,
            sent_ns: 1_234_567_890_123,
        };
        let v = vp8(stamp, true, true, (640, 360), 1100);
        assert_eq!(v.len(), 1100);
        assert_eq!(v[0] & 0x10, 0x10, "frame start");
        assert_eq!(v[1] & 0x01, 0, "keyframe");
        assert_eq!(
            &v[4..10],
            &[0x9d, 0x01, 0x2a, 0x80, 0x02, 0x68],
            "start code, 640"
        );
        assert_eq!(read_vp8(&v), Some(stamp));
        let delta = vp8(stamp, true, false, (640, 360), 10);
        assert_eq!(delta[1] & 0x01, 1);
        assert_eq!(
            delta.len(),
            1 + VP8_HEADER_LEN + HEADER_LEN,
            "never shorter than its header"
        );
        let o = opus(stamp, 120);
        assert_eq!(o.len(), 120);
        assert_eq!(read_opus(&o), Some(stamp));
    }

    #[test]
    fn foreign_or_short_payloads_are_not_read() {
        assert_eq!(read_opus(&[0u8; 40]), None);
        assert_eq!(read_vp8(&[0x10, 0x00, 0, 0, MAGIC, 1, 2]), None);
    }
}
