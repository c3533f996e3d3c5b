//! A participant written in Rust on webrtc-rs's sans-IO `rtc` core: joins through a
//! real join link over the real signaling WebSocket, answers the SFU's offers,
//! publishes synthetic Opus and VP8 RTP whose payloads encode who sent them and a
//! counter, and checks every payload it receives byte for byte.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use media::simulcast::LayerNames;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::RTCPeerConnectionBuilder;
use rtc::peer_connection::configuration::interceptor_registry::{
    Registry, configure_nack, configure_rtcp_reports, configure_simulcast_extension_headers,
};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;
/// The SFU's H.264 payload type (what subscribers negotiate).
const H264_PT: u8 = 102;
/// What the WHIP test encoder uses for H.264: deliberately not the SFU's, as an
/// encoder picks its own.
const ENCODER_H264_PT: u8 = 98;

/// What one participant received from the others.
#[derive(Debug, Default)]
pub struct Received {
    /// Intact video payloads per sender tag.
    pub video_from: HashMap<u8, usize>,
    /// Intact audio payloads per sender tag.
    pub audio_from: HashMap<u8, usize>,
    /// Payloads that were not exactly what some sender sent.
    pub corrupt: usize,
    /// Whether the media connection reached `connected`.
    pub connected: bool,
    /// Server `error` messages seen.
    pub errors: Vec<Value>,
    /// Audio packets published (one per 20 ms while connected).
    pub audio_sent: usize,
    /// When each keyframe from a real encoder (a browser) began, and its width: which
    /// simulcast layer this client was sent.
    pub keyframe_widths: Vec<(Instant, u16)>,
}

/// The payload sender `tag` puts in its `counter`-th packet of `kind`. Video payloads
/// start with a minimal VP8 descriptor marking a keyframe start, so the SFU forwards
/// from the first packet.
pub fn payload(kind: RtpCodecKind, tag: u8, counter: u16) -> Vec<u8> {
    let [hi, lo] = counter.to_be_bytes();
    let (mut p, body) = match kind {
        RtpCodecKind::Video => (vec![0x10, 0x00, b'V', tag, hi, lo], 200usize),
        _ => (vec![b'A', tag, hi, lo], 60usize),
    };
    p.extend((0..body).map(|i| (i as u8) ^ tag ^ lo));
    p
}

/// An H.264 payload of sender `tag`: a single IDR NAL unit (so every packet can start
/// a down-track) carrying the tag and counter.
pub fn h264_payload(tag: u8, counter: u16) -> Vec<u8> {
    let [hi, lo] = counter.to_be_bytes();
    let mut p = vec![0x65, b'H', tag, hi, lo];
    p.extend((0..200usize).map(|i| (i as u8) ^ tag ^ lo));
    p
}

fn classify(data: &[u8]) -> Option<(RtpCodecKind, u8)> {
    if let [0x65, b'H', tag, hi, lo, ..] = data {
        return (h264_payload(*tag, u16::from_be_bytes([*hi, *lo])) == data)
            .then_some((RtpCodecKind::Video, *tag));
    }
    let (kind, tag, hi, lo) = match data {
        [0x10, 0x00, b'V', tag, hi, lo, ..] => (RtpCodecKind::Video, *tag, *hi, *lo),
        [b'A', tag, hi, lo, ..] => (RtpCodecKind::Audio, *tag, *hi, *lo),
        _ => return None,
    };
    (payload(kind, tag, u16::from_be_bytes([hi, lo])) == data).then_some((kind, tag))
}

/// A client connection with these codecs and one host candidate at `local_addr`.
fn client_connection(
    local_addr: std::net::SocketAddr,
    codecs: &[RTCRtpCodecParameters],
) -> rtc::peer_connection::RTCPeerConnection {
    connection(local_addr, codecs, false)
}

/// [`client_connection`], also able to name simulcast layers (the MID and RID header
/// extensions) when `layered`.
fn connection(
    local_addr: std::net::SocketAddr,
    codecs: &[RTCRtpCodecParameters],
    layered: bool,
) -> rtc::peer_connection::RTCPeerConnection {
    let mut media_engine = MediaEngine::default();
    if layered {
        configure_simulcast_extension_headers(&mut media_engine).unwrap();
    }
    for c in codecs {
        let kind = if c.rtp_codec.mime_type.starts_with("audio") {
            RtpCodecKind::Audio
        } else {
            RtpCodecKind::Video
        };
        media_engine.register_codec(c.clone(), kind).unwrap();
    }
    let registry = configure_rtcp_reports(configure_nack(Registry::new(), &mut media_engine));
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .build(Instant::now())
        .unwrap();
    media::sfu::add_host_candidate(&mut pc, local_addr).unwrap();
    pc
}

/// [`client_connection`] reaching the SFU over ICE-TCP: one active TCP candidate
/// (RFC 6544) at `local_addr`'s address, as a browser behind a UDP-blocking firewall
/// has.
fn tcp_client_connection(
    local_addr: std::net::SocketAddr,
    codecs: &[RTCRtpCodecParameters],
) -> rtc::peer_connection::RTCPeerConnection {
    use rtc::ice::candidate::CandidateConfig;
    use rtc::ice::candidate::candidate_host::CandidateHostConfig;
    use rtc::peer_connection::transport::RTCIceCandidate;
    let mut media_engine = MediaEngine::default();
    for c in codecs {
        let kind = if c.rtp_codec.mime_type.starts_with("audio") {
            RtpCodecKind::Audio
        } else {
            RtpCodecKind::Video
        };
        media_engine.register_codec(c.clone(), kind).unwrap();
    }
    let registry = configure_rtcp_reports(configure_nack(Registry::new(), &mut media_engine));
    let mut pc = RTCPeerConnectionBuilder::new()
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .build(Instant::now())
        .unwrap();
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "tcp".to_owned(),
            address: local_addr.ip().to_string(),
            port: 9,
            component: 1,
            ..Default::default()
        },
        tcp_type: rtc::ice::tcp_type::TcpType::Active,
    }
    .new_candidate_host()
    .unwrap();
    pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json().unwrap())
        .unwrap();
    pc
}

fn h264_codec(payload_type: u8) -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: RTCRtpCodec {
            mime_type: MIME_TYPE_H264.to_owned(),
            clock_rate: 90000,
            channels: 0,
            sdp_fmtp_line: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
                .into(),
            rtcp_feedback: vec![RTCPFeedback {
                typ: "nack".into(),
                parameter: "pli".into(),
            }],
        },
        payload_type,
    }
}

fn codec(kind: RtpCodecKind) -> RTCRtpCodecParameters {
    match kind {
        RtpCodecKind::Video => RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_VP8.to_owned(),
                clock_rate: 90000,
                channels: 0,
                sdp_fmtp_line: String::new(),
                rtcp_feedback: vec![RTCPFeedback {
                    typ: "nack".into(),
                    parameter: "pli".into(),
                }],
            },
            payload_type: VP8_PT,
        },
        _ => RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: MIME_TYPE_OPUS.to_owned(),
                clock_rate: 48000,
                channels: 2,
                sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
                rtcp_feedback: vec![],
            },
            payload_type: OPUS_PT,
        },
    }
}

/// Joins with `ws_url`, publishes as `tag`, and runs until it has received
/// `want_each` intact audio and video packets from every tag in `expect_from`, or
/// `limit` passes.
pub async fn run_participant(
    ws_url: &str,
    tag: u8,
    expect_from: &[u8],
    want_each: usize,
    limit: Duration,
) -> Received {
    run(
        ws_url,
        tag,
        Options::default(),
        expect_from,
        want_each,
        limit,
    )
    .await
}

/// How a test participant publishes and where its media socket lives.
#[derive(Debug, Default)]
pub struct Options {
    /// Also publish a screen share (a second video track).
    pub screen: bool,
    /// A socket bound elsewhere (e.g. inside a network namespace); loopback otherwise.
    pub socket: Option<std::net::UdpSocket>,
    /// Video packets per 20 ms tick (default 1): more packets, finer loss figures.
    pub video_packets_per_tick: usize,
    /// Where to note each browser keyframe's arrival and width as it comes (also in
    /// [`Received::keyframe_widths`] at the end), for a test to watch meanwhile.
    pub keyframe_log: Option<KeyframeLog>,
    /// Asks for this simulcast layer (`low`, `medium`, `high`) of every video track
    /// it is offered, as a browser does for a small tile.
    pub prefer_layer: Option<&'static str>,
    /// Reach the SFU over ICE-TCP (its passive candidate at this address) instead of
    /// UDP.
    pub tcp: Option<std::net::SocketAddr>,
    /// Over ICE-TCP: stop reading the connection this long after it is up (keeping it
    /// open), as a stalled receiver does.
    pub stall_after: Option<Duration>,
}

/// Where a test client's media goes: a UDP socket, or an ICE-TCP connection whose
/// packets are framed (RFC 4571) and which may be made to stop reading.
enum Wire {
    Udp(tokio::net::UdpSocket),
    Tcp {
        read: tokio::net::tcp::OwnedReadHalf,
        write: tokio::net::tcp::OwnedWriteHalf,
        server: std::net::SocketAddr,
        decoder: media::tcp::FrameDecoder,
        stall_at: Option<tokio::time::Instant>,
    },
}

impl Wire {
    fn local_addr(&self) -> std::net::SocketAddr {
        match self {
            Wire::Udp(socket) => socket.local_addr().unwrap(),
            Wire::Tcp { write, .. } => write.local_addr().unwrap(),
        }
    }

    fn protocol(&self) -> TransportProtocol {
        match self {
            Wire::Udp(_) => TransportProtocol::UDP,
            Wire::Tcp { .. } => TransportProtocol::TCP,
        }
    }

    async fn send(&mut self, packet: &[u8], to: std::net::SocketAddr) {
        match self {
            Wire::Udp(socket) => {
                let _ = socket.send_to(packet, to).await;
            }
            Wire::Tcp { write, .. } => {
                use tokio::io::AsyncWriteExt;
                if let Some(framed) = media::tcp::frame(packet) {
                    let _ = write.write_all(&framed).await;
                }
            }
        }
    }

    /// The next packet and where it came from; never, once a TCP wire has stalled.
    async fn recv(&mut self, buf: &mut [u8]) -> Option<(BytesMut, std::net::SocketAddr)> {
        match self {
            Wire::Udp(socket) => {
                let (n, from) = socket.recv_from(buf).await.ok()?;
                Some((BytesMut::from(&buf[..n]), from))
            }
            Wire::Tcp {
                read,
                server,
                decoder,
                stall_at,
                ..
            } => {
                use tokio::io::AsyncReadExt;
                loop {
                    if stall_at.is_some_and(|at| tokio::time::Instant::now() >= at) {
                        std::future::pending::<()>().await;
                    }
                    if let Some(packet) = decoder.next_packet() {
                        return Some((packet, *server));
                    }
                    let n = read.read(buf).await.ok().filter(|n| *n > 0)?;
                    decoder.push(&buf[..n]);
                }
            }
        }
    }
}

/// Shared list of (arrival, width) of the browser keyframes a client received.
pub type KeyframeLog = std::sync::Arc<std::sync::Mutex<Vec<(Instant, u16)>>>;

/// [`run_participant`] with [`Options`].
pub async fn run_participant_with(
    ws_url: &str,
    tag: u8,
    options: Options,
    expect_from: &[u8],
    want_each: usize,
    limit: Duration,
) -> Received {
    run(ws_url, tag, options, expect_from, want_each, limit).await
}

/// The tag a screen share of sender `tag` carries in its payloads.
pub fn screen_tag(tag: u8) -> u8 {
    tag | 0x80
}

/// Like [`run_participant`], also publishing a screen share (a second video track,
/// which goes into the SFU's screen slot) tagged [`screen_tag`].
pub async fn run_participant_sharing(
    ws_url: &str,
    tag: u8,
    expect_from: &[u8],
    want_each: usize,
    limit: Duration,
) -> Received {
    let options = Options {
        screen: true,
        ..Options::default()
    };
    run(ws_url, tag, options, expect_from, want_each, limit).await
}

async fn run(
    ws_url: &str,
    tag: u8,
    options: Options,
    expect_from: &[u8],
    want_each: usize,
    limit: Duration,
) -> Received {
    let mut received = Received::default();
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url)
        .await
        .expect("signaling connects");
    ws.send(Message::Text(
        json!({"type":"join","protocol":1}).to_string().into(),
    ))
    .await
    .unwrap();

    let screen = options.screen;
    let keyframe_log = options.keyframe_log.clone();
    let prefer_layer = options.prefer_layer;
    let video_per_tick = options.video_packets_per_tick.max(1);
    let stall_after = options.stall_after;
    let mut wire = match (options.tcp, options.socket) {
        (Some(server), _) => {
            let stream = tokio::net::TcpStream::connect(server)
                .await
                .expect("ICE-TCP connects");
            let (read, write) = stream.into_split();
            Wire::Tcp {
                read,
                write,
                server,
                decoder: media::tcp::FrameDecoder::default(),
                stall_at: None,
            }
        }
        (None, Some(socket)) => {
            socket.set_nonblocking(true).unwrap();
            Wire::Udp(tokio::net::UdpSocket::from_std(socket).unwrap())
        }
        (None, None) => Wire::Udp(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap()),
    };
    let local_addr = wire.local_addr();
    // Like a browser, a participant can also receive H.264 (from a studio encoder).
    let codecs = [
        codec(RtpCodecKind::Audio),
        codec(RtpCodecKind::Video),
        h264_codec(H264_PT),
    ];
    let mut pc = match wire {
        Wire::Udp(_) => client_connection(local_addr, &codecs),
        Wire::Tcp { .. } => tcp_client_connection(local_addr, &codecs),
    };

    let ssrcs = (rand::random::<u32>(), rand::random::<u32>());
    let mut tracks = vec![
        (RtpCodecKind::Audio, ssrcs.0, tag),
        (RtpCodecKind::Video, ssrcs.1, tag),
    ];
    if screen {
        tracks.push((RtpCodecKind::Video, rand::random::<u32>(), screen_tag(tag)));
    }
    // (sender, kind, ssrc, payload tag, last sequence number) per published track.
    type Sender = (RTCRtpSenderId, RtpCodecKind, u32, u8, u16);
    let mut senders: Option<Vec<Sender>> = None;
    let mut counter: u16 = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let mut deadline = tokio::time::Instant::now() + limit;
    let mut satisfied = false;
    let mut buf = vec![0u8; 2048];

    loop {
        while let Some(out) = pc.poll_write() {
            wire.send(&out.message, out.transport.peer_addr).await;
        }
        while let Some(event) = pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(
                RTCPeerConnectionState::Connected,
            ) = event
            {
                received.connected = true;
                if let (Wire::Tcp { stall_at, .. }, Some(after)) = (&mut wire, stall_after) {
                    *stall_at = Some(tokio::time::Instant::now() + after);
                }
            }
        }
        while let Some(TaggedRTCMessage { message, .. }) = pc.poll_read() {
            if let RTCMessage::RtpPacket(_, packet) = message {
                match classify(&packet.payload) {
                    Some((RtpCodecKind::Video, from)) => {
                        *received.video_from.entry(from).or_default() += 1
                    }
                    Some((_, from)) => *received.audio_from.entry(from).or_default() += 1,
                    None => match media::codec::vp8_keyframe_size(&packet.payload) {
                        Some((width, _)) => {
                            received.keyframe_widths.push((Instant::now(), width));
                            if let Some(log) = &keyframe_log {
                                log.lock().unwrap().push((Instant::now(), width));
                            }
                        }
                        None => received.corrupt += 1,
                    },
                }
            }
        }
        let done = expect_from.iter().all(|t| {
            received.video_from.get(t).copied().unwrap_or(0) >= want_each
                && received.audio_from.get(t).copied().unwrap_or(0) >= want_each
        });
        if done && !satisfied {
            // Keep publishing a little longer: the others may still be counting.
            satisfied = true;
            deadline = deadline.min(tokio::time::Instant::now() + Duration::from_secs(3));
        }
        let timer = pc
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or(deadline);
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            () = tokio::time::sleep_until(timer) => { let _ = pc.handle_timeout(Instant::now()); }
            msg = ws.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(text))) => text,
                    // Pings are answered by the library; other frames carry nothing here.
                    Some(Ok(_)) => continue,
                    _ => break,
                };
                let msg: Value = serde_json::from_str(&text).unwrap();
                match msg["type"].as_str() {
                    Some("offer") => {
                        // This client sends one stream per track: it declines the
                        // camera's simulcast layers, as a browser without simulcast does.
                        let sdp = media::simulcast::decline(msg["sdp"].as_str().unwrap());
                        let offer = RTCSessionDescription::offer(sdp).unwrap();
                        pc.set_remote_description(Instant::now(), offer).unwrap();
                        if senders.is_none() {
                            let mut ids = Vec::new();
                            for (kind, ssrc, payload_tag) in tracks.iter().copied() {
                                let track = MediaStreamTrack::new(
                                    format!("client-{tag}"),
                                    format!("client-{payload_tag}-{kind}"),
                                    format!("client-{tag}"),
                                    kind,
                                    vec![RTCRtpEncodingParameters {
                                        rtp_coding_parameters: RTCRtpCodingParameters { ssrc: Some(ssrc), ..Default::default() },
                                        codec: codec(kind).rtp_codec,
                                        ..Default::default()
                                    }],
                                );
                                ids.push((pc.add_track(track).unwrap(), kind, ssrc, payload_tag, 0u16));
                            }
                            senders = Some(ids);
                        }
                        let answer = pc.create_answer(None).unwrap();
                        pc.set_local_description(Instant::now(), answer).unwrap();
                        let sdp = pc.local_description().unwrap().sdp;
                        ws.send(Message::Text(json!({"type":"answer","sdp":sdp}).to_string().into())).await.unwrap();
                        if let Some(layer) = prefer_layer {
                            for track in offered_video_tracks(msg["sdp"].as_str().unwrap()) {
                                let prefer = json!({"type":"preferLayer","track":track,"layer":layer});
                                ws.send(Message::Text(prefer.to_string().into())).await.unwrap();
                            }
                        }
                    }
                    Some("error") => received.errors.push(msg),
                    _ => {}
                }
            }
            r = wire.recv(&mut buf) => {
                match r {
                    Some((message, peer_addr)) => {
                        let _ = pc.handle_read(TaggedBytesMut {
                            now: Instant::now(),
                            transport: TransportContext { local_addr, peer_addr, ecn: None, transport_protocol: wire.protocol() },
                            message,
                        });
                    }
                    // The server closed the ICE-TCP connection.
                    None if matches!(wire, Wire::Tcp { .. }) => break,
                    None => {}
                }
            }
            _ = tick.tick() => {
                if let (true, Some(senders)) = (received.connected, &mut senders) {
                    counter = counter.wrapping_add(1);
                    received.audio_sent += 1;
                    for (sender, kind, ssrc, payload_tag, seq) in senders.iter_mut() {
                        let (pt, per_tick) = if *kind == RtpCodecKind::Audio { (OPUS_PT, 1) } else { (VP8_PT, video_per_tick) };
                        for _ in 0..per_tick {
                            *seq = seq.wrapping_add(1);
                            let packet = rtc::rtp::Packet {
                                header: rtc::rtp::header::Header {
                                    version: 2,
                                    marker: true,
                                    payload_type: pt,
                                    sequence_number: *seq,
                                    timestamp: u32::from(counter) * 960,
                                    ssrc: *ssrc,
                                    ..Default::default()
                                },
                                payload: payload(*kind, *payload_tag, *seq).into(),
                            };
                            if let Some(mut s) = pc.rtp_sender(*sender) {
                                let _ = s.write_rtp(Instant::now(), packet);
                            }
                        }
                    }
                }
            }
        }
    }
    let _ = ws.close(None).await;
    let _ = pc.close();
    received
}

/// The track ids (`a=msid:<stream> <track>`) of an offer's video sections that send.
fn offered_video_tracks(sdp: &str) -> Vec<String> {
    sdp.split("\nm=")
        .filter(|section| section.starts_with("video"))
        .filter_map(|section| {
            section
                .lines()
                .find_map(|l| l.strip_prefix("a=msid:"))
                .and_then(|msid| msid.split_whitespace().nth(1))
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn payloads_classify_only_when_intact() {
    let p = payload(RtpCodecKind::Video, 7, 300);
    assert_eq!(classify(&p), Some((RtpCodecKind::Video, 7)));
    let mut bad = p.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(classify(&bad), None);
    assert_eq!(
        classify(&payload(RtpCodecKind::Audio, 2, 1)),
        Some((RtpCodecKind::Audio, 2))
    );
}

/// A WHIP offer as an encoder with simulcast turned on makes it: audio, and video in
/// three encodings (`q`, `h`, `f`).
pub fn simulcast_whip_offer() -> String {
    let local_addr = "127.0.0.1:9".parse().unwrap();
    whip_offer(local_addr, &codec(RtpCodecKind::Video), 1, &WHIP_LAYERS).2
}

/// One stream a WHIP client sends: (sender, kind, SSRC, payload tag, RID, last
/// sequence number).
type WhipStream = (RTCRtpSenderId, RtpCodecKind, u32, u8, &'static str, u16);

/// A WHIP client's connection at `local_addr` with its offer set: audio, and video in
/// `video_codec` as one stream per RID in `rids` (one plain stream for `[""]`). Returns
/// the connection, its streams and the offer.
fn whip_offer(
    local_addr: std::net::SocketAddr,
    video_codec: &RTCRtpCodecParameters,
    tag: u8,
    rids: &[&'static str],
) -> (
    rtc::peer_connection::RTCPeerConnection,
    Vec<WhipStream>,
    String,
) {
    let layered = rids.len() > 1;
    let mut pc = connection(
        local_addr,
        &[codec(RtpCodecKind::Audio), video_codec.clone()],
        layered,
    );
    let mut senders = Vec::new();
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        let rids: &[&str] = if kind == RtpCodecKind::Video {
            rids
        } else {
            &[""]
        };
        let streams: Vec<(u32, u8, &str)> = rids
            .iter()
            .enumerate()
            .map(|(layer, rid)| {
                let tag = if rids.len() > 1 {
                    layer_tag(tag, layer)
                } else {
                    tag
                };
                (rand::random::<u32>(), tag, *rid)
            })
            .collect();
        let encodings = streams
            .iter()
            .map(|(ssrc, _, rid)| RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    rid: (*rid).into(),
                    ssrc: Some(*ssrc),
                    ..Default::default()
                },
                codec: if kind == RtpCodecKind::Video {
                    video_codec.rtp_codec.clone()
                } else {
                    codec(kind).rtp_codec
                },
                ..Default::default()
            })
            .collect();
        let track = MediaStreamTrack::new(
            format!("obs-{tag}"),
            format!("obs-{tag}-{kind}"),
            format!("obs-{tag}"),
            kind,
            encodings,
        );
        let sender = pc.add_track(track).unwrap();
        for (ssrc, tag, rid) in streams {
            senders.push((sender, kind, ssrc, tag, rid, 0u16));
        }
    }
    let offer = pc.create_offer(None).unwrap();
    pc.set_local_description(Instant::now(), offer).unwrap();
    let sdp = pc.local_description().unwrap().sdp;
    (pc, senders, sdp)
}

/// What a WHIP publishing run saw.
#[derive(Debug, Default)]
pub struct WhipRun {
    /// Status of the POST.
    pub status: u16,
    /// The resource's `Location`.
    pub location: Option<String>,
    /// Whether the media connection reached `connected`.
    pub connected: bool,
    /// RTP packets written.
    pub sent: usize,
}

/// Publishes as a WHIP client (RFC 9725): offers audio and video (sendonly), POSTs the
/// offer as `application/sdp` with `token`, applies the answer, sends tagged media for
/// `limit`, then DELETEs the resource.
pub async fn run_whip_publisher(
    endpoint: &str,
    token: &str,
    tag: u8,
    h264: bool,
    limit: Duration,
) -> WhipRun {
    whip_publisher(endpoint, token, tag, h264, &[""], limit).await
}

/// The simulcast layers a layered WHIP publisher sends, lowest first (as a browser
/// names them).
pub const WHIP_LAYERS: [&str; 3] = ["q", "h", "f"];

/// The payload tag of layer `layer` (0 = `q`) of a layered publisher tagged `tag`: the
/// top layer carries the plain tag.
pub fn layer_tag(tag: u8, layer: usize) -> u8 {
    match layer {
        0 => tag | 0x10,
        1 => tag | 0x20,
        _ => tag,
    }
}

/// [`run_whip_publisher`] with simulcast on in the encoder: VP8 in the three
/// [`WHIP_LAYERS`], each its own stream named by the RID header extension and tagged
/// [`layer_tag`].
pub async fn run_whip_publisher_in_layers(
    endpoint: &str,
    token: &str,
    tag: u8,
    limit: Duration,
) -> WhipRun {
    whip_publisher(endpoint, token, tag, false, &WHIP_LAYERS, limit).await
}

async fn whip_publisher(
    endpoint: &str,
    token: &str,
    tag: u8,
    h264: bool,
    rids: &[&'static str],
    limit: Duration,
) -> WhipRun {
    let mut run = WhipRun::default();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local_addr = socket.local_addr().unwrap();
    // OBS Studio offers H.264 only; other encoders VP8.
    let video_codec = if h264 {
        h264_codec(ENCODER_H264_PT)
    } else {
        codec(RtpCodecKind::Video)
    };
    let layered = rids.len() > 1;
    let (mut pc, mut senders, sdp) = whip_offer(local_addr, &video_codec, tag, rids);
    // A layer names itself in every packet (MID and RID header extensions).
    let names = layered.then(|| LayerNames::of(&sdp).expect("the offer sends layers"));
    let http = reqwest::Client::new();
    let response = http
        .post(endpoint)
        .bearer_auth(token)
        .header("content-type", "application/sdp")
        .body(sdp)
        .send()
        .await
        .unwrap();
    run.status = response.status().as_u16();
    if run.status != 201 {
        return run;
    }
    run.location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned());
    assert_eq!(response.headers()["content-type"], "application/sdp");
    let answer = response.text().await.unwrap();
    pc.set_remote_description(
        Instant::now(),
        RTCSessionDescription::answer(answer).unwrap(),
    )
    .unwrap();

    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = vec![0u8; 2048];
    let mut counter: u16 = 0;
    loop {
        while let Some(out) = pc.poll_write() {
            let _ = socket.send_to(&out.message, out.transport.peer_addr).await;
        }
        while let Some(event) = pc.poll_event() {
            if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(
                RTCPeerConnectionState::Connected,
            ) = event
            {
                run.connected = true;
            }
        }
        while pc.poll_read().is_some() {}
        let timer = pc
            .poll_timeout()
            .map(tokio::time::Instant::from_std)
            .unwrap_or(deadline);
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => break,
            () = tokio::time::sleep_until(timer) => { let _ = pc.handle_timeout(Instant::now()); }
            r = socket.recv_from(&mut buf) => {
                if let Ok((n, peer_addr)) = r {
                    let _ = pc.handle_read(TaggedBytesMut {
                        now: Instant::now(),
                        transport: TransportContext { local_addr, peer_addr, ecn: None, transport_protocol: TransportProtocol::UDP },
                        message: BytesMut::from(&buf[..n]),
                    });
                }
            }
            _ = tick.tick() => {
                if !run.connected {
                    continue;
                }
                counter = counter.wrapping_add(1);
                for (sender, kind, ssrc, tag, rid, seq) in senders.iter_mut() {
                    *seq = seq.wrapping_add(1);
                    let pt = match (*kind, h264) {
                        (RtpCodecKind::Audio, _) => OPUS_PT,
                        (_, true) => ENCODER_H264_PT,
                        _ => VP8_PT,
                    };
                    let body = match (*kind, h264) {
                        (RtpCodecKind::Video, true) => h264_payload(*tag, *seq),
                        _ => payload(*kind, *tag, *seq),
                    };
                    let mut packet = rtc::rtp::Packet {
                        header: rtc::rtp::header::Header {
                            version: 2,
                            marker: true,
                            payload_type: pt,
                            sequence_number: *seq,
                            timestamp: u32::from(counter) * 960,
                            ssrc: *ssrc,
                            ..Default::default()
                        },
                        payload: body.into(),
                    };
                    if let (RtpCodecKind::Video, Some(names)) = (*kind, &names) {
                        names.stamp(&mut packet.header, rid);
                    }
                    if let Some(mut s) = pc.rtp_sender(*sender)
                        && s.write_rtp(Instant::now(), packet).is_ok()
                    {
                        run.sent += 1;
                    }
                }
            }
        }
    }
    let _ = pc.close();
    run
}
