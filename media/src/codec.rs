//! Codec facts the forwarder needs from payloads, read without decoding: where VP8 and
//! H.264 keyframes start, and VP8's picture numbering (rewritten across simulcast
//! layer switches).

/// Whether an RTP payload in VP8 format (RFC 7741) is the first packet of a keyframe.
///
/// The payload descriptor's S bit marks the start of a partition and PID 0 the first
/// partition; the VP8 payload header that follows has P = 0 for a keyframe.
pub fn is_vp8_keyframe_start(payload: &[u8]) -> bool {
    vp8_keyframe_header(payload).is_some()
}

/// The picture size a VP8 keyframe's first packet announces (RFC 6386 §9.1: after
/// the 3-byte frame tag, the start code `9d 01 2a`, then 14-bit width and height,
/// little-endian). Which simulcast layer reached a receiver shows in it.
pub fn vp8_keyframe_size(payload: &[u8]) -> Option<(u16, u16)> {
    let header = vp8_keyframe_header(payload)?;
    match header.get(3..10)? {
        [0x9d, 0x01, 0x2a, w0, w1, h0, h1] => Some((
            u16::from_le_bytes([*w0, *w1]) & 0x3fff,
            u16::from_le_bytes([*h0, *h1]) & 0x3fff,
        )),
        _ => None,
    }
}

/// The VP8 payload (from its frame tag) of a keyframe's first packet.
fn vp8_keyframe_header(payload: &[u8]) -> Option<&[u8]> {
    let &first = payload.first()?;
    let extended = first & 0x80 != 0;
    let start_of_partition = first & 0x10 != 0;
    let partition_id = first & 0x0f;
    if !start_of_partition || partition_id != 0 {
        return None;
    }
    let mut at = 1;
    if extended {
        let &x = payload.get(at)?;
        at += 1;
        if x & 0x80 != 0 {
            // PictureID: one or two bytes depending on its M bit.
            let &pid = payload.get(at)?;
            at += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            at += 1; // TL0PICIDX
        }
        if x & 0x30 != 0 {
            at += 1; // TID/Y/KEYIDX
        }
    }
    let header = payload.get(at..)?;
    header
        .first()
        .is_some_and(|tag| tag & 0x01 == 0)
        .then_some(header)
}

/// The picture numbering in a VP8 payload descriptor (RFC 7741 §4.2): a receiver uses
/// it to tell which frames a frame depends on, so it must run on without a jump
/// backwards when a subscriber is switched to another simulcast layer (each layer
/// numbers its pictures on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Vp8Ids {
    /// PictureID and whether it is the 15-bit form (else 7-bit).
    pub picture_id: Option<(u16, bool)>,
    /// TL0PICIDX: the index of the last base temporal layer picture.
    pub tl0_pic_idx: Option<u8>,
}

impl Vp8Ids {
    /// Reads them from a VP8 payload (none for a payload too short to hold them).
    pub fn read(payload: &[u8]) -> Self {
        let mut ids = Self::default();
        let Some((pid_at, tl0_at)) = vp8_id_positions(payload) else {
            return ids;
        };
        if let Some(at) = pid_at {
            ids.picture_id = Some(if payload[at] & 0x80 != 0 {
                (
                    u16::from_be_bytes([payload[at] & 0x7f, payload[at + 1]]),
                    true,
                )
            } else {
                (u16::from(payload[at]), false)
            });
        }
        ids.tl0_pic_idx = tl0_at.map(|at| payload[at]);
        ids
    }

    /// Writes these ids into `payload` where it carries them (the same descriptor
    /// layout they were read from).
    pub fn write(&self, payload: &mut [u8]) {
        let Some((pid_at, tl0_at)) = vp8_id_positions(payload) else {
            return;
        };
        if let (Some(at), Some((value, _))) = (pid_at, self.picture_id) {
            if payload[at] & 0x80 != 0 {
                let [hi, lo] = (value & 0x7fff).to_be_bytes();
                payload[at] = 0x80 | hi;
                payload[at + 1] = lo;
            } else {
                payload[at] = (value & 0x7f) as u8;
            }
        }
        if let (Some(at), Some(tl0)) = (tl0_at, self.tl0_pic_idx) {
            payload[at] = tl0;
        }
    }
}

/// Where the PictureID and TL0PICIDX of a VP8 payload descriptor are, if present.
fn vp8_id_positions(payload: &[u8]) -> Option<(Option<usize>, Option<usize>)> {
    let first = *payload.first()?;
    if first & 0x80 == 0 {
        return Some((None, None));
    }
    let x = *payload.get(1)?;
    let mut at = 2;
    let mut picture_id = None;
    if x & 0x80 != 0 {
        let pid = *payload.get(at)?;
        let len = if pid & 0x80 != 0 { 2 } else { 1 };
        payload.get(at + len - 1)?;
        picture_id = Some(at);
        at += len;
    }
    let mut tl0 = None;
    if x & 0x40 != 0 {
        payload.get(at)?;
        tl0 = Some(at);
    }
    Some((picture_id, tl0))
}

/// Whether an RTP payload in H.264 format (RFC 6184) starts a keyframe: an IDR slice or
/// a sequence parameter set, alone, first in an aggregation packet (STAP-A) or at the
/// start of a fragmented unit (FU-A).
pub fn is_h264_keyframe_start(payload: &[u8]) -> bool {
    const IDR: u8 = 5;
    const SPS: u8 = 7;
    let starts_keyframe = |nal_type: u8| nal_type == IDR || nal_type == SPS;
    let Some(&header) = payload.first() else {
        return false;
    };
    match header & 0x1f {
        24 => {
            // STAP-A: (16-bit size, NAL unit)*.
            let mut at = 1;
            while let (Some(&hi), Some(&lo)) = (payload.get(at), payload.get(at + 1)) {
                let size = usize::from(u16::from_be_bytes([hi, lo]));
                let Some(&nal) = payload.get(at + 2) else {
                    return false;
                };
                if size == 0 {
                    return false;
                }
                if starts_keyframe(nal & 0x1f) {
                    return true;
                }
                at += 2 + size;
            }
            false
        }
        28 => payload
            .get(1)
            .is_some_and(|&fu| fu & 0x80 != 0 && starts_keyframe(fu & 0x1f)),
        nal_type => starts_keyframe(nal_type),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vp8_picture_numbering_is_read_and_rewritten_in_place() {
        // X, I (15-bit PictureID 0x1234), L (TL0PICIDX 7), T; then the VP8 header.
        let mut long = vec![0x90, 0xe0, 0x80 | 0x12, 0x34, 7, 0x40, 0x00];
        assert_eq!(
            Vp8Ids::read(&long),
            Vp8Ids {
                picture_id: Some((0x1234, true)),
                tl0_pic_idx: Some(7)
            }
        );
        Vp8Ids {
            picture_id: Some((0x7abc, true)),
            tl0_pic_idx: Some(200),
        }
        .write(&mut long);
        assert_eq!(long, vec![0x90, 0xe0, 0x80 | 0x7a, 0xbc, 200, 0x40, 0x00]);
        // 7-bit PictureID, no TL0PICIDX.
        let mut short = vec![0x90, 0x80, 0x05, 0x00];
        assert_eq!(Vp8Ids::read(&short).picture_id, Some((5, false)));
        Vp8Ids {
            picture_id: Some((0x81, false)),
            tl0_pic_idx: Some(1),
        }
        .write(&mut short);
        assert_eq!(short, vec![0x90, 0x80, 0x01, 0x00], "wraps at 7 bits");
        // No extension, or cut short: nothing to read, nothing written.
        assert_eq!(Vp8Ids::read(&[0x10, 0x00]), Vp8Ids::default());
        assert_eq!(Vp8Ids::read(&[0x90, 0x80, 0x85]), Vp8Ids::default());
        assert_eq!(Vp8Ids::read(&[]), Vp8Ids::default());
    }

    #[test]
    fn minimal_descriptor_keyframe_and_delta() {
        assert!(is_vp8_keyframe_start(&[0x10, 0x00, 0x9d]));
        assert!(!is_vp8_keyframe_start(&[0x10, 0x01, 0x9d]));
    }

    #[test]
    fn a_keyframes_first_packet_tells_the_picture_size() {
        // X, I (15-bit PictureID), L, T; frame tag (P = 0), start code, 640 × 360
        // (the top two bits of each are scaling, not size).
        let keyframe = [
            0x90, 0xe0, 0x81, 0x23, 0x07, 0x20, 0x50, 0x2a, 0x01, 0x9d, 0x01, 0x2a, 0x80, 0x42,
            0x68, 0x01,
        ];
        assert_eq!(vp8_keyframe_size(&keyframe), Some((640, 360)));
        assert_eq!(
            vp8_keyframe_size(&[0x10, 0x00, 0x00, 0x00]),
            None,
            "cut short"
        );
        let mut delta = keyframe;
        delta[6] |= 0x01;
        assert_eq!(vp8_keyframe_size(&delta), None, "not a keyframe");
        let mut no_start_code = keyframe;
        no_start_code[10] = 0x02;
        assert_eq!(vp8_keyframe_size(&no_start_code), None);
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
    fn h264_keyframes_start_with_an_idr_or_sps_however_packetized() {
        // Single NAL units: IDR (0x65), SPS (0x67), a non-IDR slice (0x41).
        assert!(is_h264_keyframe_start(&[0x65, 0x88]));
        assert!(is_h264_keyframe_start(&[0x67, 0x42]));
        assert!(!is_h264_keyframe_start(&[0x41, 0x9a]));
        // STAP-A carrying SPS then PPS.
        assert!(is_h264_keyframe_start(&[
            0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x01, 0x68
        ]));
        // STAP-A of non-key units, and one whose size runs past the end.
        assert!(!is_h264_keyframe_start(&[
            0x78, 0x00, 0x01, 0x41, 0x00, 0x01, 0x06
        ]));
        assert!(!is_h264_keyframe_start(&[0x78, 0x00, 0x09, 0x41]));
        assert!(!is_h264_keyframe_start(&[0x78, 0x00, 0x00, 0x67]));
        // FU-A: the start of an IDR, a middle fragment of one, the start of a P slice.
        assert!(is_h264_keyframe_start(&[0x7c, 0x85, 0x00]));
        assert!(!is_h264_keyframe_start(&[0x7c, 0x05, 0x00]));
        assert!(!is_h264_keyframe_start(&[0x7c, 0x81, 0x00]));
        assert!(!is_h264_keyframe_start(&[0x7c]));
        assert!(!is_h264_keyframe_start(&[]));
    }

    #[test]
    fn truncated_payloads_are_not_keyframes() {
        assert!(!is_vp8_keyframe_start(&[]));
        assert!(!is_vp8_keyframe_start(&[0x90]));
        assert!(!is_vp8_keyframe_start(&[0x90, 0x80]));
        assert!(!is_vp8_keyframe_start(&[0x10]));
    }
}
