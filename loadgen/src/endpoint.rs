//! One WebRTC endpoint of the generator: a sans-IO `rtc` peer connection on its own
//! UDP socket (or, with `--tcp`, its own ICE-TCP connection to the SFU, RFC 4571
//! framing), driven by one task. A publisher sends synthetic Opus (50
//! packets/s) and VP8 (30 frames/s, a keyframe every 3 s) in three simulcast layers
//! (≈150 kbit/s, 500 kbit/s and 1.5 Mbit/s, named by RID) or in one (≈1.5 Mbit/s,
//! `--layers 1`); every endpoint
//! measures what it receives inside the measuring window: packets, loss per incoming
//! stream (sequence numbers expected but never received, retransmissions included)
//! and one-way latency from the send time stamped in each payload.
//!
//! Signaling is the driver's business: it hands remote descriptions in through a
//! channel and takes the endpoint's answers out of another.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use bytes::BytesMut;
use media::quality::ArrivalCounter;
use media::recorder::Codec;
use media::simulcast::LayerNames;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    Registry, configure_nack, configure_rtcp_reports, configure_simulcast_extension_headers,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::event::RTCPeerConnectionEvent;
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::RTCRtpSenderId;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use tokio::sync::{mpsc, watch};

use crate::histogram::Histogram;
use crate::pacer::{Pacer, Pending};
use crate::payload::{self, Stamp};

const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;
/// One simulcast layer's frames: a delta frame is `packets` packets of `size` payload
/// bytes; a keyframe is four delta frames' worth.
#[derive(Debug, Clone, Copy)]
struct LayerShape {
    rid: &'static str,
    packets: usize,
    size: usize,
    /// Picture size, as a keyframe's header states it.
    dims: (u16, u16),
}

/// Lowest first, as the SFU's RIDs: ≈144 kbit/s, 480 kbit/s and 1.44 Mbit/s at 30
/// frames/s (with the keyframes, about 150 kbit/s, 500 kbit/s and 1.5 Mbit/s).
const LAYER_SHAPES: [LayerShape; 3] = [
    LayerShape {
        rid: "q",
        packets: 1,
        size: 600,
        dims: (320, 180),
    },
    LayerShape {
        rid: "h",
        packets: 2,
        size: 1000,
        dims: (640, 360),
    },
    LayerShape {
        rid: "f",
        packets: 5,
        size: 1200,
        dims: (1280, 720),
    },
];
/// Frames between keyframes (3 s at 30 frames/s).
const KEYFRAME_EVERY: u32 = 90;
const FRAME_INTERVAL: Duration = Duration::from_micros(33_333);
const AUDIO_INTERVAL: Duration = Duration::from_millis(20);
/// Video leaves at 2.5× its bitrate (libwebrtc's pacing factor): with the top layer
/// alone one full packet about every 2.7 ms, a keyframe over about 54 ms.
const PACING_FACTOR: f64 = 2.5;
/// RTP header, SRTP tag, UDP and IPv4 headers.
const PACKET_OVERHEAD: usize = 12 + 16 + 8 + 20;
/// An Opus packet at ≈32 kbit/s.
const AUDIO_PAYLOAD: usize = 80;

/// A remote description from the driver.
#[derive(Debug)]
pub enum Remote {
    /// An offer: the endpoint answers through the replies channel.
    Offer(String),
}

/// The generator's clock: nanoseconds since one shared instant, so publishers'
/// stamps and subscribers' arrival times compare within the process.
#[derive(Debug, Clone, Copy)]
pub struct Clock(pub Instant);

impl Clock {
    fn ns(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.0).as_nanos() as u64
    }
}

/// When to count and when to stop, set by the orchestrator once every endpoint is
/// connected (not guessed up front): the window is empty until then.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The shared clock.
    pub clock: Clock,
    window: Arc<Window>,
    stop: watch::Receiver<bool>,
}

#[derive(Debug, Default)]
struct Window {
    from_ns: AtomicU64,
    until_ns: AtomicU64,
    connected: AtomicUsize,
}

/// The orchestrator's side of a [`Schedule`].
#[derive(Debug)]
pub struct Control {
    clock: Clock,
    window: Arc<Window>,
    stop: watch::Sender<bool>,
}

/// A schedule for the endpoints and its control for the orchestrator.
pub fn schedule(clock: Clock) -> (Schedule, Control) {
    let window = Arc::new(Window::default());
    window.from_ns.store(u64::MAX, Ordering::Relaxed);
    window.until_ns.store(u64::MAX, Ordering::Relaxed);
    let (stop, stopped) = watch::channel(false);
    (
        Schedule {
            clock,
            window: window.clone(),
            stop: stopped,
        },
        Control {
            clock,
            window,
            stop,
        },
    )
}

impl Control {
    /// Endpoints connected so far.
    pub fn connected(&self) -> usize {
        self.window.connected.load(Ordering::Relaxed)
    }

    /// Counting happens between these instants.
    pub fn measure(&self, from: Instant, until: Instant) {
        self.window
            .until_ns
            .store(self.clock.ns(until), Ordering::Relaxed);
        self.window
            .from_ns
            .store(self.clock.ns(from), Ordering::Relaxed);
    }

    /// Every endpoint closes.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

impl Schedule {
    fn in_window(&self, now: Instant) -> bool {
        let ns = self.clock.ns(now);
        ns >= self.window.from_ns.load(Ordering::Relaxed)
            && ns < self.window.until_ns.load(Ordering::Relaxed)
    }

    /// A receiver that changes to `true` when the run ends.
    pub fn stopped(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }
}

/// What one endpoint saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Reached `connected`.
    pub connected: bool,
    /// RTP packets received in the window (retransmissions included).
    pub packets: u64,
    /// Sequence numbers expected in the window, over all incoming streams.
    pub expected: u64,
    /// Of those, never received (after NACK repair).
    pub lost: u64,
    /// Latency of first arrivals in the window, microseconds.
    pub latency: Histogram,
    /// Distinct incoming streams seen in the window.
    pub streams: usize,
    /// RTP packets this endpoint published in the window.
    pub published: u64,
}

/// Where an endpoint's packets go.
enum Wire {
    /// Its own UDP socket; arrivals carry the kernel's receive stamps.
    Udp(tokio::net::UdpSocket),
    /// An ICE-TCP connection to the SFU's passive candidate, opened when the first
    /// offer arrives (the SFU closes a connection that does not authenticate within
    /// seconds, and booking every room takes a while).
    Tcp {
        server: SocketAddr,
        link: Option<TcpLink>,
    },
}

struct TcpLink {
    read: tokio::net::tcp::OwnedReadHalf,
    write: tokio::net::tcp::OwnedWriteHalf,
    decoder: media::tcp::FrameDecoder,
}

/// One packet off the wire.
struct Arrival {
    message: BytesMut,
    peer_addr: SocketAddr,
    /// The kernel's arrival time (UDP only).
    stamp_ns: Option<u64>,
}

impl Wire {
    fn protocol(&self) -> TransportProtocol {
        match self {
            Wire::Udp(_) => TransportProtocol::UDP,
            Wire::Tcp { .. } => TransportProtocol::TCP,
        }
    }

    /// Opens the TCP connection if it is not yet open; returns its local address.
    async fn connect(&mut self) -> Result<Option<SocketAddr>> {
        let Wire::Tcp { server, link } = self else {
            return Ok(None);
        };
        if link.is_none() {
            let stream = tokio::net::TcpStream::connect(*server)
                .await
                .with_context(|| format!("ICE-TCP connection to {server}"))?;
            stream.set_nodelay(true)?;
            let (read, write) = stream.into_split();
            *link = Some(TcpLink {
                read,
                write,
                decoder: media::tcp::FrameDecoder::default(),
            });
        }
        Ok(link.as_ref().and_then(|l| l.write.local_addr().ok()))
    }

    async fn send(&mut self, packet: &[u8], to: SocketAddr) {
        match self {
            Wire::Udp(socket) => {
                let _ = socket.send_to(packet, to).await;
            }
            Wire::Tcp {
                link: Some(link), ..
            } => {
                use tokio::io::AsyncWriteExt;
                if let Some(framed) = media::tcp::frame(packet) {
                    let _ = link.write.write_all(&framed).await;
                }
            }
            Wire::Tcp { link: None, .. } => {}
        }
    }

    /// The next packet; cancel-safe (a partly read TCP frame stays in the decoder).
    /// Pends forever on a TCP wire not yet (or no longer) connected.
    async fn recv(&mut self, buf: &mut [u8]) -> Arrival {
        match self {
            Wire::Udp(socket) => loop {
                if socket.readable().await.is_err() {
                    continue;
                }
                let received = socket.try_io(tokio::io::Interest::READABLE, || {
                    media::delay::receive_stamped(socket, buf)
                });
                if let Ok((n, peer_addr, stamp_ns)) = received {
                    return Arrival {
                        message: BytesMut::from(&buf[..n]),
                        peer_addr,
                        stamp_ns,
                    };
                }
            },
            Wire::Tcp { server, link } => {
                use tokio::io::AsyncReadExt;
                loop {
                    let Some(l) = link.as_mut() else {
                        return std::future::pending().await;
                    };
                    if let Some(message) = l.decoder.next_packet() {
                        return Arrival {
                            message,
                            peer_addr: *server,
                            stamp_ns: None,
                        };
                    }
                    match l.read.read(buf).await {
                        Ok(n) if n > 0 => l.decoder.push(&buf[..n]),
                        // The SFU closed it: this endpoint receives nothing more.
                        _ => *link = None,
                    }
                }
            }
        }
    }
}

/// One endpoint before its task starts.
pub struct Endpoint {
    id: u32,
    publish: bool,
    pc: RTCPeerConnection,
    wire: Wire,
    local_addr: SocketAddr,
    /// Simulcast layers published (1: none).
    layers: usize,
    /// The audio and the video sender, with the SSRC of each stream they send (one
    /// per simulcast layer for video, lowest first).
    senders: Vec<(RTCRtpSenderId, RtpCodecKind, Vec<u32>)>,
    /// The negotiated MID and RID header extensions and the video section's MID, which
    /// name a simulcast layer's stream.
    layer_names: Option<LayerNames>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("publish", &self.publish)
            .field("local_addr", &self.local_addr)
            .field("protocol", &self.wire.protocol())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A connection on a fresh UDP socket on `ip`, or over ICE-TCP to `tcp` (the
    /// SFU's passive candidate) from `ip`; `publish` adds an audio and a video track
    /// when the first description is exchanged.
    pub async fn new(
        id: u32,
        publish: bool,
        ip: std::net::IpAddr,
        layers: usize,
        tcp: Option<SocketAddr>,
    ) -> Result<Self> {
        let (wire, local_addr) = match tcp {
            Some(server) => (
                Wire::Tcp { server, link: None },
                // The port is the connection's, known once it is open; ICE-TCP's
                // active candidates announce port 9 (RFC 6544).
                SocketAddr::new(ip, 9),
            ),
            None => {
                let socket = udp_socket(ip)?;
                let local_addr = socket.local_addr()?;
                (Wire::Udp(socket), local_addr)
            }
        };
        let mut media_engine = MediaEngine::default();
        media_engine.register_codec(codec(RtpCodecKind::Audio), RtpCodecKind::Audio)?;
        media_engine.register_codec(codec(RtpCodecKind::Video), RtpCodecKind::Video)?;
        let registry = configure_rtcp_reports(configure_nack(Registry::new(), &mut media_engine));
        if layers > 1 {
            configure_simulcast_extension_headers(&mut media_engine)?;
        }
        let mut pc = RTCPeerConnectionBuilder::new()
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .build(Instant::now())?;
        match wire {
            Wire::Udp(_) => media::sfu::add_host_candidate(&mut pc, local_addr)?,
            Wire::Tcp { .. } => add_active_tcp_candidate(&mut pc, ip)?,
        }
        Ok(Self {
            id,
            publish,
            pc,
            wire,
            local_addr,
            layers: layers.clamp(1, LAYER_SHAPES.len()),
            senders: Vec::new(),
            layer_names: None,
        })
    }

    /// The layers' shapes, lowest first (the top one alone without simulcast).
    fn shapes(&self) -> &'static [LayerShape] {
        &LAYER_SHAPES[LAYER_SHAPES.len() - self.layers..]
    }

    /// Adds the audio and video tracks. `highest_first` lists the simulcast layers
    /// highest first in this endpoint's own offer: Janus takes the first RID of an
    /// offer as the top layer (the order its own client library sends).
    fn add_tracks(&mut self, highest_first: bool) -> Result<()> {
        if !self.publish || !self.senders.is_empty() {
            return Ok(());
        }
        for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
            let simulcast = kind == RtpCodecKind::Video && self.layers > 1;
            let rids: Vec<&str> = match simulcast {
                true => self.shapes().iter().map(|l| l.rid).collect(),
                false => vec![""],
            };
            let ssrcs: Vec<u32> = rids.iter().map(|_| rand::random()).collect();
            let mut in_order: Vec<(&str, &u32)> = rids.iter().copied().zip(&ssrcs).collect();
            if highest_first {
                in_order.reverse();
            }
            let encodings = in_order
                .into_iter()
                .map(|(rid, ssrc)| RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        rid: rid.into(),
                        ssrc: Some(*ssrc),
                        ..Default::default()
                    },
                    codec: codec(kind).rtp_codec,
                    ..Default::default()
                })
                .collect();
            let track = MediaStreamTrack::new(
                format!("gen-{}", self.id),
                format!("gen-{}-{kind}", self.id),
                format!("gen-{}", self.id),
                kind,
                encodings,
            );
            let sender = self.pc.add_track(track)?;
            self.senders.push((sender, kind, ssrcs));
        }
        Ok(())
    }

    /// The endpoint's own offer (publishers offering to Janus).
    pub fn offer(&mut self) -> Result<String> {
        self.add_tracks(true)?;
        let offer = self.pc.create_offer(None)?;
        self.pc.set_local_description(Instant::now(), offer)?;
        let sdp = self
            .pc
            .local_description()
            .map(|d| d.sdp)
            .ok_or_else(|| anyhow!("no offer was produced"))?;
        self.layer_names = LayerNames::of(&sdp);
        Ok(sdp)
    }

    /// Applies a remote offer and returns the answer. A request for simulcast layers
    /// is declined unless this endpoint publishes in layers.
    pub fn answer(&mut self, offer: String) -> Result<String> {
        let now = Instant::now();
        let offer = match self.publish && self.layers > 1 {
            true => offer,
            false => media::simulcast::decline(&offer),
        };
        self.pc
            .set_remote_description(now, RTCSessionDescription::offer(offer)?)
            .context("remote offer")?;
        self.add_tracks(false)?;
        let answer = self.pc.create_answer(None)?;
        self.pc.set_local_description(now, answer)?;
        let sdp = self
            .pc
            .local_description()
            .map(|d| d.sdp)
            .ok_or_else(|| anyhow!("no answer was produced"))?;
        if self.layer_names.is_none() {
            self.layer_names = LayerNames::of(&sdp);
        }
        Ok(sdp)
    }

    /// Applies the answer to this endpoint's offer.
    pub fn accept(&mut self, answer: String) -> Result<()> {
        self.pc
            .set_remote_description(Instant::now(), RTCSessionDescription::answer(answer)?)
            .context("remote answer")?;
        Ok(())
    }

    /// Runs until the schedule stops, answering offers from `remote` into `replies`.
    pub async fn run(
        mut self,
        schedule: Schedule,
        mut remote: mpsc::UnboundedReceiver<Remote>,
        replies: mpsc::UnboundedSender<String>,
    ) -> Outcome {
        let mut out = Outcome::default();
        let mut incoming: HashMap<u32, Incoming> = HashMap::new();
        // Each publisher's clocks have a phase of their own, fixed by its id on the
        // shared clock: independent cameras and microphones never send in the same
        // instant, and both SFUs get the same phases however fast their endpoints
        // were started (Viva's all start in one millisecond, Janus's one HTTP
        // exchange apart).
        let now = Instant::now();
        let tick = |period| {
            let first = first_tick(schedule.clock.0, now, period, self.id);
            tokio::time::interval_at(first.into(), period)
        };
        let mut audio = tick(AUDIO_INTERVAL);
        let mut video = tick(FRAME_INTERVAL);
        audio.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        video.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut seqs: HashMap<u32, u16> = HashMap::new();
        let bits_per_second: usize = self
            .shapes()
            .iter()
            .map(|l| l.packets * (l.size + PACKET_OVERHEAD) * 8 * 30)
            .sum();
        let mut pacer = Pacer::new(PACING_FACTOR * bits_per_second as f64, PACKET_OVERHEAD);
        let mut frame: u32 = 0;
        let mut keyframe_requested = false;
        // The kernel's arrival time of the datagram being handled.
        let mut arrived_ns: Option<u64> = None;
        let mut buf = vec![0u8; 2048];
        let mut stopped = schedule.stopped();
        let mut remote_open = true;
        loop {
            while let Some(datagram) = self.pc.poll_write() {
                self.wire
                    .send(&datagram.message, datagram.transport.peer_addr)
                    .await;
            }
            while let Some(event) = self.pc.poll_event() {
                if let RTCPeerConnectionEvent::OnConnectionStateChangeEvent(
                    RTCPeerConnectionState::Connected,
                ) = event
                    && !out.connected
                {
                    out.connected = true;
                    schedule.window.connected.fetch_add(1, Ordering::Relaxed);
                }
            }
            while let Some(TaggedRTCMessage { message, .. }) = self.pc.poll_read() {
                if let RTCMessage::RtcpPacket(_, packets) = &message
                    && packets.iter().any(|p| {
                        p.as_any().is::<PictureLossIndication>()
                            || p.as_any().is::<FullIntraRequest>()
                    })
                {
                    // Like an encoder: the next frame is a keyframe.
                    keyframe_requested = true;
                }
                if let RTCMessage::RtpPacket(_, packet) = message {
                    let now = Instant::now();
                    if !schedule.in_window(now) {
                        continue;
                    }
                    out.packets += 1;
                    let stream = incoming
                        .entry(packet.header.ssrc)
                        .or_insert_with(|| Incoming {
                            counter: ArrivalCounter::new(90_000),
                            highest: None,
                        });
                    stream.counter.on_packet(
                        now,
                        packet.header.sequence_number,
                        packet.header.timestamp,
                        packet.payload.len(),
                        false,
                    );
                    // Latency of first arrivals only: a retransmission carries its
                    // original send time.
                    if stream.is_new(packet.header.sequence_number) {
                        let stamp = if packet.payload.first() == Some(&0xA7) {
                            payload::read_opus(&packet.payload)
                        } else {
                            payload::read_vp8(&packet.payload)
                        };
                        if let Some(stamp) = stamp {
                            let arrived = arrived_ns.unwrap_or_else(media::delay::wall_ns);
                            out.latency
                                .record(arrived.saturating_sub(stamp.sent_ns) / 1000);
                        }
                    }
                }
            }
            let pace_at = pacer
                .next_at()
                .map_or_else(tokio::time::Instant::now, tokio::time::Instant::from_std);
            let timer = self
                .pc
                .poll_timeout()
                .map(tokio::time::Instant::from_std)
                .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(1));
            tokio::select! {
                _ = stopped.changed() => break,
                () = tokio::time::sleep_until(timer) => {
                    let _ = self.pc.handle_timeout(Instant::now());
                }
                arrival = self.wire.recv(&mut buf) => {
                    arrived_ns = arrival.stamp_ns;
                    let _ = self.pc.handle_read(TaggedBytesMut {
                        now: Instant::now(),
                        transport: TransportContext {
                            local_addr: self.local_addr,
                            peer_addr: arrival.peer_addr,
                            ecn: None,
                            transport_protocol: self.wire.protocol(),
                        },
                        message: arrival.message,
                    });
                }
                msg = remote.recv(), if remote_open => match msg {
                    Some(Remote::Offer(sdp)) => match self.connect().await.and_then(|()| self.answer(sdp)) {
                        Ok(answer) => { let _ = replies.send(answer); }
                        Err(e) => eprintln!("endpoint {}: {e:#}", self.id),
                    },
                    None => remote_open = false,
                },
                _ = audio.tick(), if out.connected && self.publish => {
                    self.send_audio(&schedule, &mut seqs, &mut out);
                }
                () = tokio::time::sleep_until(pace_at), if pacer.queued() > 0 => {
                    while let Some(packet) = pacer.poll(Instant::now()) {
                        self.send_video(&schedule, &mut seqs, &mut out, packet);
                    }
                }
                _ = video.tick(), if out.connected && self.publish => {
                    frame = frame.wrapping_add(1);
                    if std::mem::take(&mut keyframe_requested) {
                        frame = 1; // Keyframes fall on frame % KEYFRAME_EVERY == 1.
                    }
                    let keyframe = frame % KEYFRAME_EVERY == 1;
                    let now = Instant::now();
                    for (layer, shape) in self.shapes().iter().enumerate() {
                        let packets = if keyframe { 4 * shape.packets } else { shape.packets };
                        pacer.push_frame(now, frame.wrapping_mul(3000), keyframe, packets, shape.size, layer as u8);
                    }
                    // The frame's first packet leaves at once when nothing is queued.
                    while let Some(packet) = pacer.poll(now) {
                        self.send_video(&schedule, &mut seqs, &mut out, packet);
                    }
                }
            }
        }
        let _ = self.pc.close();
        for stream in incoming.values() {
            let counts = stream.counter.counts();
            out.expected += counts.expected;
            out.lost += counts.expected.saturating_sub(counts.received);
        }
        out.streams = incoming.len();
        out
    }

    /// Opens an ICE-TCP wire's connection (before the first answer, so that the
    /// SFU's checks find it); a UDP wire is always open.
    async fn connect(&mut self) -> Result<()> {
        if let Some(local) = self.wire.connect().await? {
            self.local_addr = local;
        }
        Ok(())
    }

    /// One Opus packet, sent at once (browsers do not pace audio).
    fn send_audio(&mut self, schedule: &Schedule, seqs: &mut HashMap<u32, u16>, out: &mut Outcome) {
        let now = Instant::now();
        let timestamp = (schedule.clock.ns(now) / 1_000_000 * 48) as u32;
        let body = payload::opus(self.stamp(), AUDIO_PAYLOAD);
        self.write(
            schedule,
            seqs,
            out,
            (RtpCodecKind::Audio, 0),
            OPUS_PT,
            timestamp,
            true,
            body,
        );
    }

    /// One paced VP8 packet, stamped as it leaves (the pacer's wait is the
    /// publisher's, not the SFU's).
    fn send_video(
        &mut self,
        schedule: &Schedule,
        seqs: &mut HashMap<u32, u16>,
        out: &mut Outcome,
        packet: Pending,
    ) {
        let dims = self.shapes()[usize::from(packet.layer)].dims;
        let body = payload::vp8(
            self.stamp(),
            packet.index == 0,
            packet.keyframe,
            dims,
            packet.size,
        );
        let marker = packet.index + 1 == packet.count;
        self.write(
            schedule,
            seqs,
            out,
            (RtpCodecKind::Video, usize::from(packet.layer)),
            VP8_PT,
            packet.timestamp,
            marker,
            body,
        );
    }

    fn stamp(&self) -> Stamp {
        Stamp {
            publisher: self.id,
            sent_ns: media::delay::wall_ns(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        schedule: &Schedule,
        seqs: &mut HashMap<u32, u16>,
        out: &mut Outcome,
        (kind, layer): (RtpCodecKind, usize),
        payload_type: u8,
        timestamp: u32,
        marker: bool,
        body: Vec<u8>,
    ) {
        let Some((sender, _, ssrcs)) = self.senders.iter().find(|(_, k, _)| *k == kind) else {
            return;
        };
        let (sender, Some(&ssrc)) = (*sender, ssrcs.get(layer)) else {
            return;
        };
        let simulcast = ssrcs.len() > 1;
        let now = Instant::now();
        let seq = seqs.entry(ssrc).or_insert_with(rand::random);
        *seq = seq.wrapping_add(1);
        let mut packet = rtc::rtp::Packet {
            header: rtc::rtp::header::Header {
                version: 2,
                marker,
                payload_type,
                sequence_number: *seq,
                timestamp,
                ssrc,
                ..Default::default()
            },
            payload: body.into(),
        };
        // A simulcast layer names itself in every packet (a browser stops once the
        // receiver has acknowledged the stream; naming it always costs a few bytes).
        if simulcast && let Some(names) = &self.layer_names {
            names.stamp(&mut packet.header, self.shapes()[layer].rid);
        }
        if let Some(mut s) = self.pc.rtp_sender(sender) {
            let _ = s.write_rtp(now, packet);
        }
        if schedule.in_window(now) {
            out.published += 1;
        }
    }
}

/// A UDP socket on `ip` with a receive buffer of 1 MiB (the generator's own drops
/// would otherwise count against the SFU) and the kernel's arrival stamps (the
/// latency measured then excludes the generator's own wait before reading a datagram,
/// which with hundreds of receivers on one thread would otherwise dominate).
fn udp_socket(ip: std::net::IpAddr) -> Result<tokio::net::UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(SocketAddr::new(ip, 0)),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    socket.set_recv_buffer_size(1 << 20)?;
    socket.bind(&SocketAddr::new(ip, 0).into())?;
    socket.set_nonblocking(true)?;
    media::delay::enable_receive_stamps(&socket)?;
    Ok(tokio::net::UdpSocket::from_std(socket.into())?)
}

/// One active ICE-TCP host candidate (RFC 6544) at `ip`, as a browser behind a
/// UDP-blocking firewall offers.
fn add_active_tcp_candidate(pc: &mut RTCPeerConnection, ip: std::net::IpAddr) -> Result<()> {
    use rtc::ice::candidate::CandidateConfig;
    use rtc::ice::candidate::candidate_host::CandidateHostConfig;
    use rtc::peer_connection::transport::RTCIceCandidate;
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "tcp".to_owned(),
            address: ip.to_string(),
            port: 9,
            component: 1,
            ..Default::default()
        },
        tcp_type: rtc::ice::tcp_type::TcpType::Active,
    }
    .new_candidate_host()?;
    pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)?;
    Ok(())
}

/// A publisher's first tick at or after `now` on a clock of `period` started at
/// `origin`: its phase is the golden-ratio fraction of its id, which spreads
/// consecutive ids evenly over the period.
fn first_tick(origin: Instant, now: Instant, period: Duration, id: u32) -> Instant {
    const GOLDEN: f64 = 0.618_033_988_749_895;
    let period_ns = period.as_nanos().max(1);
    let phase_ns = ((f64::from(id) * GOLDEN).fract() * period_ns as f64) as u128;
    let since = now.saturating_duration_since(origin).as_nanos();
    // The first k with origin + phase + k × period ≥ now.
    let k = since.saturating_sub(phase_ns).div_ceil(period_ns);
    let at = phase_ns + k * period_ns;
    origin + Duration::from_nanos(u64::try_from(at).unwrap_or(u64::MAX))
}

struct Incoming {
    counter: ArrivalCounter,
    highest: Option<u16>,
}

impl Incoming {
    /// Whether this sequence number is beyond every one seen (a first arrival, not a
    /// retransmission).
    fn is_new(&mut self, seq: u16) -> bool {
        match self.highest {
            Some(h) if !media::feedback::is_newer(seq, h) => false,
            _ => {
                self.highest = Some(seq);
                true
            }
        }
    }
}

/// The codec a generated track uses: the SFU's own Opus and VP8 parameters, so both
/// SFUs are offered what browsers would agree on with Viva.
fn codec(kind: RtpCodecKind) -> RTCRtpCodecParameters {
    let codec = match kind {
        RtpCodecKind::Video => Codec::Vp8,
        _ => Codec::Opus,
    };
    media::sfu::codec_params(codec).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishers_tick_on_their_own_phase_of_the_shared_clock() {
        let origin = Instant::now();
        let period = FRAME_INTERVAL;
        for first_id in [0u32, 100_000, 300_000] {
            let mut phases: Vec<u128> = Vec::new();
            for id in first_id..first_id + 10 {
                for started in [0, 7, 33, 1_000, 12_345] {
                    let now = origin + Duration::from_millis(started);
                    let at = first_tick(origin, now, period, id);
                    assert!(at >= now && at < now + period, "id {id} at {started} ms");
                    let phase = at.duration_since(origin).as_nanos() % period.as_nanos();
                    if started == 0 {
                        phases.push(phase);
                    } else {
                        assert!(
                            phase.abs_diff(*phases.last().unwrap()) <= 1,
                            "the phase is the id's, not the start's"
                        );
                    }
                }
            }
            // Ten publishers of a room are spread over the frame interval.
            phases.sort_unstable();
            let gaps = phases.windows(2).map(|w| w[1] - w[0]);
            assert!(
                gaps.min().unwrap() > period.as_nanos() / 20,
                "{first_id}: {phases:?}"
            );
        }
    }
}
