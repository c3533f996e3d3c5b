//! Fuzz targets of the media plane: every parser that sees bytes a participant sent,
//! as the SFU reads them. Each function takes arbitrary bytes and must return without
//! panicking (a panic on the media thread would stop everyone's media). The `fuzz/`
//! crate runs them under AFL++ (`scripts/fuzz.sh TARGET SECONDS`); `tests/fuzz_corpus.rs`
//! replays every stored input as a regression test.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtc::shared::marshal::Unmarshal;

use crate::codec::{Vp8Ids, is_h264_keyframe_start, is_vp8_keyframe_start, vp8_keyframe_size};
use crate::demux::Demux;
use crate::forward::{Forwarder, MediaGrant, MediaKind, Outgoing, RtpMeta};
use crate::ids::ParticipantId;
use crate::stun;

/// STUN as the shared port reads it: the ufrag, the integrity check, and the
/// demultiplexer's routing of a sequence of datagrams from a few source addresses.
pub fn stun(data: &[u8]) {
    let _ = stun::is_stun(data);
    let _ = stun::local_ufrag(data);
    let _ = stun::is_authentic(data, "passwordA-24-characters!");
    let mut demux = Demux::default();
    demux.add(ParticipantId(1), "ufragA", "passwordA-24-characters!");
    demux.add(ParticipantId(2), "ufragB", "passwordB-24-characters!");
    let t0 = Instant::now();
    // Datagrams are separated by a 0xff 0xfe marker; the byte after each marker picks
    // the source port, so one input exercises learning, conflicts and eviction.
    for (i, datagram) in split(data).enumerate() {
        let (port, body) = match datagram.split_first() {
            Some((p, rest)) => (u16::from(*p) % 16, rest),
            None => (0, datagram),
        };
        let transport = if port % 2 == 0 {
            crate::demux::Transport::Udp
        } else {
            crate::demux::Transport::Tcp
        };
        let from = (
            SocketAddr::from(([127, 0, 0, 1], 40_000 + port / 2)),
            transport,
        );
        let now = t0 + Duration::from_secs(i as u64);
        let _ = demux.route(body, from, now);
    }
}

/// RTP as a publisher's packets reach the forwarder: the header (rtc's parser), the
/// VP8/H.264 payload descriptors, the VP8 numbering rewrite, and a room of one
/// simulcast publisher and two viewers deciding where each packet goes.
pub fn rtp(data: &[u8]) {
    let t0 = Instant::now();
    let mut room = Forwarder::new();
    let (publisher, viewer, other) = (ParticipantId(1), ParticipantId(2), ParticipantId(3));
    let both = MediaGrant {
        publish: true,
        subscribe: true,
        echo: false,
    };
    if room.join(t0, publisher, both).is_err()
        || room.join(t0, viewer, both).is_err()
        || room.join(t0, other, both).is_err()
    {
        return;
    }
    let Ok((up, actions)) = room.publish_layered(t0, publisher, MediaKind::Video, 3) else {
        return;
    };
    for action in actions {
        if let crate::forward::Action::AddDownTrack { down_track, .. } = action {
            room.bind(t0, down_track);
        }
    }
    let mut out: Vec<Outgoing> = Vec::new();
    let mut now = t0;
    for datagram in split(data) {
        let Ok(packet) = rtc::rtp::Packet::unmarshal(&mut &datagram[..]) else {
            continue;
        };
        let payload = &packet.payload;
        let _ = vp8_keyframe_size(payload);
        let _ = is_h264_keyframe_start(payload);
        let meta = RtpMeta {
            sequence_number: packet.header.sequence_number,
            timestamp: packet.header.timestamp,
            keyframe_start: is_vp8_keyframe_start(payload),
            vp8: Vp8Ids::read(payload),
        };
        now += Duration::from_millis(u64::from(packet.header.payload_type % 64));
        let layer = packet.header.ssrc as u8 % 4;
        let _ = room.on_rtp(now, up, layer, &meta, &mut out);
        for forwarded in &out {
            let mut rewritten = payload.to_vec();
            forwarded.vp8.write(&mut rewritten);
        }
        if packet.header.marker {
            let _ = room.set_present(now, viewer, packet.header.padding);
        }
    }
}

/// RTCP as a subscriber's feedback reaches the SFU: rtc's compound-packet parser, then
/// what Viva reads of it (keyframe requests, NACKs, receiver reports).
pub fn rtcp(data: &[u8]) {
    for datagram in split(data) {
        let Ok(packets) = rtc::rtcp::packet::unmarshal(&mut &datagram[..]) else {
            continue;
        };
        crate::feedback::read_feedback_for_fuzzing(packets);
    }
}

/// ICE-TCP's stream as the SFU reads it (RFC 4571 frames), fed in pieces whose sizes
/// the input's first byte chooses: the packets taken out, framed again, are exactly
/// the bytes consumed, whatever the pieces.
pub fn tcp_frames(data: &[u8]) {
    let Some((step, stream)) = data.split_first() else {
        return;
    };
    let step = usize::from(*step).max(1);
    let mut decoder = crate::tcp::FrameDecoder::default();
    let mut rebuilt = Vec::new();
    for piece in stream.chunks(step) {
        decoder.push(piece);
        while let Some(packet) = decoder.next_packet() {
            let framed = crate::tcp::frame(&packet).expect("a decoded packet fits a frame");
            rebuilt.extend_from_slice(&framed);
        }
    }
    assert_eq!(rebuilt.len() + decoder.pending(), stream.len());
    assert_eq!(&stream[..rebuilt.len()], &rebuilt[..]);
}

/// SDP as a client sends it: a WHIP encoder's offer, a browser's answer.
pub fn sdp(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        crate::sfu::apply_client_sdp(text);
    }
}

/// Splits an input into datagrams at each `0xff 0xfe` marker.
fn split(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = data;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        match rest.windows(2).position(|w| w == [0xff, 0xfe]) {
            Some(at) => {
                let (head, tail) = rest.split_at(at);
                rest = &tail[2..];
                Some(head)
            }
            None => Some(std::mem::take(&mut rest)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_split_into_datagrams_at_the_marker() {
        let parts: Vec<&[u8]> = split(&[1, 2, 0xff, 0xfe, 3, 0xff, 0xfe]).collect();
        assert_eq!(parts, vec![&[1u8, 2][..], &[3u8][..]]);
        assert_eq!(split(&[]).count(), 0);
    }
}
