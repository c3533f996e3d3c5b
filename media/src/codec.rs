//! Codec facts the forwarder needs from payloads, read without decoding.

/// Whether an RTP payload in VP8 format (RFC 7741) is the first packet of a keyframe.
///
/// The payload descriptor's S bit marks the start of a partition and PID 0 the first
/// partition; the VP8 payload header that follows has P = 0 for a keyframe.
pub fn is_vp8_keyframe_start(payload: &[u8]) -> bool {
    let Some(&first) = payload.first() else {
        return false;
    };
    let extended = first & 0x80 != 0;
    let start_of_partition = first & 0x10 != 0;
    let partition_id = first & 0x0f;
    if !start_of_partition || partition_id != 0 {
        return false;
    }
    let mut at = 1;
    if extended {
        let Some(&x) = payload.get(at) else {
            return false;
        };
        at += 1;
        if x & 0x80 != 0 {
            // PictureID: one or two bytes depending on its M bit.
            let Some(&pid) = payload.get(at) else {
                return false;
            };
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            at += 1; // TID/Y/KEYIDX
        }
    }
    payload.get(at).is_some_and(|header| header & 0x01 == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_descriptor_keyframe_and_delta() {
        assert!(is_vp8_keyframe_start(&[0x10, 0x00, 0x9d]));
        assert!(!is_vp8_keyframe_start(&[0x10, 0x01, 0x9d]));
    }

    #[test]
    fn continuation_packets_are_not_starts() {
        assert!(!is_vp8_keyframe_start(&[0x00, 0x00]));
        assert!(!is_vp8_keyframe_start(&[0x11, 0x00]));
    }

    #[test]
    fn extended_descriptor_with_two_byte_picture_id() {
        // X=1,S=1 | I=1 | M=1 picture id (2 bytes) | payload header P=0
        assert!(is_vp8_keyframe_start(&[0x90, 0x80, 0x81, 0x23, 0x00]));
        assert!(!is_vp8_keyframe_start(&[0x90, 0x80, 0x81, 0x23, 0x01]));
        // With TL0PICIDX and TID bytes too.
        assert!(is_vp8_keyframe_start(&[0x90, 0xE0, 0x05, 0x07, 0x20, 0x00]));
    }

    #[test]
    fn truncated_payloads_are_not_keyframes() {
        assert!(!is_vp8_keyframe_start(&[]));
        assert!(!is_vp8_keyframe_start(&[0x90]));
        assert!(!is_vp8_keyframe_start(&[0x90, 0x80]));
        assert!(!is_vp8_keyframe_start(&[0x10]));
    }
}
