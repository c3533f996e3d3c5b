//! Simulcast in SDP: asking a browser for its camera in three layers, and declining.
//!
//! The SFU always makes the offers. A browser sends simulcast when the offer it
//! answers asks to receive it (`a=rid:… recv` and `a=simulcast:recv`): the transceiver
//! it creates from the offer gets one encoding per RID, lowest resolution first, and its
//! answer says `a=simulcast:send`. webrtc-rs writes these attributes only in answers,
//! so they are added to the SFU's offer here, on the camera's media section, in every
//! offer (a re-offer without them would end simulcast). Each layer is then its own RTP
//! stream, named by the RID header extension, and `rtc` reports it as a track event of
//! its own.
//!
//! A client that does not send simulcast (the test clients, the load generator in its
//! one-layer mode, an encoder) answers without the attributes, or strips them from the
//! offer first with [`decline`].

use crate::forward::{Layer, MAX_LAYERS};

/// The RIDs the SFU offers, lowest layer first: a browser scales `q` down the most.
pub const RIDS: [&str; MAX_LAYERS] = ["q", "h", "f"];

/// The layer a RID names, if it is one of [`RIDS`].
pub fn layer_of(rid: &str) -> Option<Layer> {
    RIDS.iter().position(|r| *r == rid).map(|i| i as Layer)
}

/// `sdp` (an offer) with the media section whose `a=mid` is `mid` asking to receive
/// [`RIDS`] as simulcast. Unchanged if there is no such section or it already asks.
pub fn request(sdp: &str, mid: &str) -> String {
    let mid_line = format!("a=mid:{mid}");
    let is_ours = |section: &str| section.lines().any(|l| l == mid_line);
    let sections = split_sections(sdp);
    if sections
        .iter()
        .any(|s| is_ours(s) && s.lines().any(|l| l.starts_with("a=simulcast:")))
    {
        return sdp.to_owned();
    }
    let mut out = String::with_capacity(sdp.len() + 96);
    for section in sections {
        for line in section.split_inclusive('\n') {
            out.push_str(line);
            if section.starts_with("m=") && line.trim_end() == mid_line {
                let eol = if line.ends_with("\r\n") { "\r\n" } else { "\n" };
                for rid in RIDS {
                    out.push_str(&format!("a=rid:{rid} recv{eol}"));
                }
                out.push_str(&format!("a=simulcast:recv {}{eol}", RIDS.join(";")));
            }
        }
    }
    out
}

/// `sdp` without any simulcast request: what a client that sends one stream per
/// track applies instead of the SFU's offer, so that its answer does not promise
/// layers it will not send.
pub fn decline(sdp: &str) -> String {
    sdp.split_inclusive('\n')
        .filter(|l| !(l.starts_with("a=rid:") || l.starts_with("a=simulcast:")))
        .collect()
}

/// Whether the answer's section `mid` sends simulcast layers: it says so and it sends
/// at all (a browser answers `a=simulcast:send` for a camera slot it has no camera in
/// yet, `a=inactive`, and `rtc` sets up no track for that).
pub fn answer_sends_layers(answer: &str, mid: &str) -> bool {
    let mid_line = format!("a=mid:{mid}");
    split_sections(answer).iter().any(|s| {
        let has = |p: &str| s.lines().any(|l| l.starts_with(p));
        s.lines().any(|l| l == mid_line)
            && has("a=simulcast:send")
            && (has("a=sendonly") || has("a=sendrecv"))
    })
}

/// A later answer as `rtc` must see it once the layers of section `mid` flow: without
/// that section's track description (`a=msid`, `a=ssrc`, `a=rid`, `a=simulcast`).
///
/// Why: on every answer `rtc` sets up each described track afresh, and a simulcast
/// track's layers are then unknown until a packet names its RID again. A browser
/// names its layers (MID and RID header extensions) only until the SFU's receiver
/// reports acknowledge them, so after the first renegotiation no layer would be
/// recognised again. A section that describes no track is left as it was.
pub fn keep_layers_bound(answer: &str, mid: &str) -> String {
    let mid_line = format!("a=mid:{mid}");
    split_sections(answer)
        .into_iter()
        .flat_map(|section| {
            let ours = section.starts_with("m=") && section.lines().any(|l| l == mid_line);
            section.split_inclusive('\n').filter(move |l| {
                !(ours
                    && [
                        "a=msid:",
                        "a=ssrc:",
                        "a=ssrc-group:",
                        "a=rid:",
                        "a=simulcast:",
                    ]
                    .iter()
                    .any(|p| l.starts_with(p)))
            })
        })
        .collect()
}

/// The id `sdp` gives the RTP header extension `uri` (`a=extmap:<id>[/<dir>] <uri>`).
pub fn extmap_id(sdp: &str, uri: &str) -> Option<u8> {
    sdp.lines().find_map(|line| {
        let (id, rest) = line.strip_prefix("a=extmap:")?.split_once(' ')?;
        (rest.trim() == uri).then(|| id.split('/').next()?.parse().ok())?
    })
}

/// How a simulcast sender names each packet's layer (a receiver learns a layer's SSRC
/// from nothing else): the MID and RID header extension ids its description
/// negotiated, and its video section's MID.
#[derive(Debug, Clone)]
pub struct LayerNames {
    mid_id: u8,
    rid_id: u8,
    mid: bytes::Bytes,
}

impl LayerNames {
    /// From a sender's description whose video section sends simulcast.
    pub fn of(sdp: &str) -> Option<Self> {
        let section = split_sections(sdp)
            .into_iter()
            .find(|s| s.starts_with("m=video") && s.contains("a=simulcast:send"))?;
        let mid = section.lines().find_map(|l| l.strip_prefix("a=mid:"))?;
        Some(Self {
            mid_id: extmap_id(sdp, "urn:ietf:params:rtp-hdrext:sdes:mid")?,
            rid_id: extmap_id(sdp, "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id")?,
            mid: bytes::Bytes::from(mid.trim().to_owned()),
        })
    }

    /// Names the layer `rid` in a packet's header.
    pub fn stamp(&self, header: &mut rtc::rtp::header::Header, rid: &'static str) {
        let _ = header.set_extension(self.mid_id, self.mid.clone());
        let _ = header.set_extension(self.rid_id, bytes::Bytes::from_static(rid.as_bytes()));
    }
}

/// The session part and each media section, as slices of `sdp`.
fn split_sections(sdp: &str) -> Vec<&str> {
    let mut starts: Vec<usize> = sdp.match_indices("\nm=").map(|(i, _)| i + 1).collect();
    starts.insert(0, 0);
    starts.push(sdp.len());
    starts.windows(2).map(|w| &sdp[w[0]..w[1]]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=recvonly\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:10\r\na=recvonly\r\n";

    #[test]
    fn the_camera_section_alone_asks_for_three_layers_lowest_first() {
        let sdp = request(OFFER, "1");
        let camera = split_sections(&sdp)[2];
        assert!(camera.contains(
            "a=mid:1\r\na=rid:q recv\r\na=rid:h recv\r\na=rid:f recv\r\na=simulcast:recv q;h;f\r\n"
        ));
        for other in [1, 3] {
            assert!(
                !split_sections(&sdp)[other].contains("a=rid"),
                "section {other}"
            );
        }
        // `a=mid:1` is not `a=mid:10`.
        assert_eq!(sdp.matches("a=simulcast").count(), 1);
    }

    #[test]
    fn asking_twice_or_for_an_unknown_mid_changes_nothing() {
        let once = request(OFFER, "1");
        assert_eq!(request(&once, "1"), once);
        assert_eq!(request(OFFER, "7"), OFFER);
    }

    #[test]
    fn declining_restores_the_plain_offer() {
        assert_eq!(decline(&request(OFFER, "1")), OFFER);
    }

    const ANSWER: &str = "v=0\r\no=- 2 2 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=sendonly\r\na=msid:- a\r\na=ssrc:1 cname:x\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\na=msid:- v\r\n\
        a=rid:q send\r\na=rid:h send\r\na=rid:f send\r\na=simulcast:send q;h;f\r\n";

    #[test]
    fn a_later_answer_leaves_the_layered_section_undescribed_and_the_others_alone() {
        assert!(answer_sends_layers(ANSWER, "1"));
        assert!(!answer_sends_layers(ANSWER, "0"));
        // A camera slot with no camera in it yet: its layers are not flowing.
        let idle = ANSWER.replace("a=mid:1\r\na=sendonly", "a=mid:1\r\na=inactive");
        assert!(!answer_sends_layers(&idle, "1"));
        let kept = keep_layers_bound(ANSWER, "1");
        let sections = split_sections(&kept);
        assert_eq!(sections[1], split_sections(ANSWER)[1], "audio untouched");
        assert_eq!(
            sections[2],
            "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=sendonly\r\n"
        );
        assert_eq!(sections[0], split_sections(ANSWER)[0]);
    }

    #[test]
    fn rids_name_layers_lowest_first() {
        assert_eq!(layer_of("q"), Some(0));
        assert_eq!(layer_of("h"), Some(1));
        assert_eq!(layer_of("f"), Some(2));
        assert_eq!(layer_of("x"), None);
    }
}
