//! The transport adapter: webrtc-rs's sans-IO `rtc` peer connections on one UDP port.
//!
//! One thread owns the socket, every participant's `RTCPeerConnection` and every room's
//! [`Forwarder`]; nothing here is shared or locked. The signaling layer talks to it
//! through [`Sfu::join`] and the returned [`PeerHandle`] (commands in, [`PeerEvent`]s
//! out). This module moves bytes and translates between `rtc` and the forwarder; the
//! decisions (who gets what, sequence rewriting, keyframe throttling) are the
//! forwarder's.
//!
//! Demultiplexing: every connection gets its own ICE ufrag. A datagram from a known
//! address goes to that address's connection; a STUN check from a new address is
//! routed by the ufrag in its USERNAME, and its address is learnt. The SFU is ICE-lite:
//! browsers always control and always send the checks, which is what makes the learnt
//! addresses trustworthy (the check is authenticated by the connection's ICE agent).
//!
//! Negotiation: the SFU always makes the offers, so there is never glare. A change to a
//! participant's tracks while an offer is outstanding waits for the answer and then
//! triggers one more offer.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rtc::interceptor::Slot;
use rtc::interceptor::{NackGeneratorBuilder, NackResponderBuilder};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::{
    Registry, configure_rtcp_reports, configure_simulcast_extension_headers,
};
use rtc::peer_connection::configuration::media_engine::{
    MIME_TYPE_H264, MIME_TYPE_OPUS, MIME_TYPE_VP8, MediaEngine,
};
use rtc::peer_connection::configuration::setting_engine::SettingEngineBuilder;
use rtc::peer_connection::event::{RTCPeerConnectionEvent, RTCTrackEvent, RTCTrackEventInit};
use rtc::peer_connection::message::{RTCMessage, TaggedRTCMessage};
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::peer_connection::state::RTCPeerConnectionState;
use rtc::peer_connection::transport::{CandidateConfig, CandidateHostConfig, RTCIceCandidate};
use rtc::peer_connection::{RTCPeerConnection, RTCPeerConnectionBuilder};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
    TYPE_RTCP_FB_TRANSPORT_CC,
};
use rtc::rtp_transceiver::{
    RTCRtpReceiverId, RTCRtpSenderId, RTCRtpTransceiverDirection, RTCRtpTransceiverInit,
};
use rtc::sansio::Protocol;
use rtc::shared::{TaggedBytesMut, TransportContext, TransportProtocol};
use rtc::statistics::StatsSelector;
use rtc::statistics::report::RTCStatsReportEntry;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::codec::{Vp8Ids, is_h264_keyframe_start, is_vp8_keyframe_start};
use crate::demux::{Demux, Origin, Transport};
use crate::downlink::{LinkGovernor, LinkTotals};
use crate::feedback::{FeedbackTally, LossFeedback, PassedGaps};
use crate::forward::{
    Action, Forwarder, Layer, MAX_LAYERS, MediaGrant, MediaKind, Outgoing, RtpMeta,
};
use crate::ids::{DownTrackId, ParticipantId, UpTrackId};
use crate::outbox::Outbox;
use crate::quality::{ArrivalCounter, ArrivalCounts};
use crate::recorder::{Captured, Codec, RecordingTap, RtpPacket, TrackInfo};
use crate::simulcast;
use crate::tcp::{TcpEvent, TcpLink};
use crate::twcc;

/// Payload type of Opus in every SDP the SFU writes.
pub const OPUS_PAYLOAD_TYPE: u8 = 111;
/// Payload type of VP8 in every SDP the SFU writes.
pub const VP8_PAYLOAD_TYPE: u8 = 96;
/// Payload type of H.264 in every offer the SFU writes. Browsers publish VP8 (listed
/// first); H.264 is there for ingest encoders (OBS Studio sends only H.264), whose
/// video is forwarded as it is, so subscribers receive H.264 from them.
pub const H264_PAYLOAD_TYPE: u8 = 102;

/// Where the media plane listens and what it announces.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The one UDP socket for all participants.
    pub udp_bind: SocketAddr,
    /// The ICE-TCP port (RFC 6544 passive candidates), for participants whose network
    /// drops UDP; `None`: UDP only.
    pub tcp_bind: Option<SocketAddr>,
    /// The address put into ICE candidates (what browsers send to). Its port is the
    /// bound port.
    pub announce_ip: IpAddr,
    /// Offers ask browsers for their camera in simulcast layers.
    pub simulcast: bool,
}

/// What a participant's connection reports to the signaling layer.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// A new offer for the browser to answer.
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// The SFU's answer to an ingest client's offer ([`Sfu::ingest`]).
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// Something the client sent could not be applied; the connection goes on.
    Rejected {
        /// A message for the client.
        reason: String,
    },
    /// The connection failed or closed; the participant should rejoin.
    Closed {
        /// Why.
        reason: String,
    },
    /// Every [`SAMPLE_INTERVAL`], and once more as the connection ends (its last
    /// interval, or all of one shorter than an interval): what the SFU measured on
    /// this connection.
    Sample(MediaSample),
    /// The media connection's state changed (connected, disconnected, failed…).
    ConnectionState(String),
}

/// Most datagrams read per wake-up of the media loop before timers are looked at
/// again.
const RECEIVE_BATCH: usize = 32;

/// How often each connection is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(2);

/// The media thread looks for connections due a sample this many times per
/// [`SAMPLE_INTERVAL`], and reads at most this share of them each time: reading every
/// connection's statistics in one go took 1.7–4 ms for 33 connections, during which
/// every packet waited.
const SAMPLE_SLICES: u32 = 8;

/// The name of the thread that owns the media socket and every connection (what
/// `/proc/<pid>/task/*/comm` shows; the server keeps it at a higher priority than its
/// other threads).
pub const MEDIA_THREAD_NAME: &str = "viva-media";

/// One connection's measurements; counters are cumulative since the connection began,
/// so a consumer takes differences between samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaSample {
    /// Uplink: what arrived from this participant, per published source.
    pub up: Vec<(Source, ArrivalCounts)>,
    /// Downlink: what was sent to this participant and what their receiver reports
    /// (RTCP RR) said about it, per down-track.
    pub down: Vec<DownlinkCounts>,
    /// Round-trip time of the selected ICE candidate pair, in milliseconds.
    pub rtt_ms: Option<f64>,
    /// Wall-clock time the counters were read. Intervals are stamped with it rather
    /// than with when a busy consumer got round to them, so an interval never appears
    /// to start later than it did.
    pub taken_at: Option<std::time::SystemTime>,
    /// Wall-clock time the connection connected, from which its counters count: the
    /// first sample's interval runs from here.
    pub counting_since: Option<std::time::SystemTime>,
    /// How its media reached the SFU last: UDP or ICE-TCP.
    pub transport: Option<Transport>,
    /// Packets for it dropped so far because its ICE-TCP connection's queue was full.
    pub tcp_dropped: u64,
}

/// One down-track's counters.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DownlinkCounts {
    /// The down-track's SSRC (identifies it between samples).
    pub ssrc: u32,
    /// Whose track it is: the publisher's label.
    pub publisher: String,
    /// Which of the publisher's sources it carries.
    pub source: Option<Source>,
    /// The track id offered to the subscriber in SDP (`a=msid`), which a browser
    /// reports back as `trackIdentifier` in its own statistics.
    pub track_id: String,
    /// Audio or video.
    pub video: bool,
    /// Packets sent (as counted by the connection's statistics).
    pub packets_sent: u64,
    /// Packets the SFU forwarded on this down-track (originals only).
    pub packets_forwarded: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Cumulative loss the receiver reported (RTCP RR), if it reported yet: after
    /// NACK repair, so for video it is the residual loss.
    pub reported_lost: Option<i64>,
    /// Distinct originals the receiver NACKed: loss on the wire before repair (video;
    /// audio is not NACKed). Gaps the SFU passed on are not among them.
    pub nacked_originals: u64,
    /// Sequence numbers the SFU skipped on this down-track because they never
    /// reached it (the publisher's loss, passed on); a receiver report counts them
    /// in `reported_lost`.
    pub passed_gaps: u64,
    /// Jitter the receiver reported, in milliseconds.
    pub jitter_ms: Option<f64>,
    /// Round trip from RR/SR timing, in milliseconds.
    pub rtt_ms: Option<f64>,
}

/// A request to place a participant in a room.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// Room key (one per session).
    pub room: String,
    /// Stable label of the participant, used as the media stream id in SDP, so that
    /// browsers can tell whose tracks they receive.
    pub label: String,
    /// What they may do.
    pub grant: MediaGrant,
    /// Which of their sources may reach the room now (changed later by
    /// [`Sfu::set_sources`]). Only matters when the grant allows publishing.
    pub sources: SourcePolicy,
}

/// A participant's publishing slots, in the order the SFU offers them: microphone,
/// camera, screen. Which slot a track arrives on says what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// The microphone.
    Microphone,
    /// The camera.
    Camera,
    /// A shared screen or window.
    Screen,
}

impl Source {
    /// The slots, in offer order.
    pub const SLOTS: [Source; 3] = [Source::Microphone, Source::Camera, Source::Screen];

    /// Its name in samples, recordings and messages.
    pub fn name(self) -> &'static str {
        match self {
            Source::Microphone => "microphone",
            Source::Camera => "camera",
            Source::Screen => "screen",
        }
    }
}

/// Which sources of a participant the room receives. A source that is not allowed is
/// blocked in the forwarder: its packets reach nobody, whatever the browser sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SourcePolicy {
    /// Microphone (false: muted by the host, or a trainee not promoted).
    pub microphone: bool,
    pub camera: bool,
    /// Screen sharing.
    pub screen: bool,
}

impl SourcePolicy {
    /// Everything allowed.
    pub const ALL: SourcePolicy = SourcePolicy {
        microphone: true,
        camera: true,
        screen: true,
    };

    /// Whether `source` may reach the room.
    pub fn allows(self, source: Source) -> bool {
        match source {
            Source::Microphone => self.microphone,
            Source::Camera => self.camera,
            Source::Screen => self.screen,
        }
    }
}

enum Command {
    Join {
        id: ParticipantId,
        request: JoinRequest,
        /// An ingest client's offer (WHIP); `None` for browsers, to whom the SFU offers.
        offer: Option<String>,
        events: mpsc::UnboundedSender<PeerEvent>,
    },
    Answer {
        id: ParticipantId,
        sdp: String,
    },
    Leave {
        id: ParticipantId,
    },
    SetPresent {
        id: ParticipantId,
        present: bool,
    },
    SetSources {
        id: ParticipantId,
        sources: SourcePolicy,
    },
    Renegotiate {
        id: ParticipantId,
    },
    PreferLayer {
        id: ParticipantId,
        track_id: String,
        layer: Layer,
    },
    Stats {
        reply: tokio::sync::oneshot::Sender<SfuStats>,
    },
    Record {
        room: String,
        tap: Option<RecordingTap>,
    },
    RequestKeyframe {
        room: String,
        up_track: UpTrackId,
    },
    /// A fault hook: the media thread blocks for this long, as a hung loop would.
    Stall(Duration),
}

/// Counters of the media plane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SfuStats {
    /// Connected participants.
    pub participants: usize,
    /// Rooms with anyone in them.
    pub rooms: usize,
    /// RTP packets handed to subscribers' connections.
    pub forwarded_packets: u64,
    /// Their payload bytes.
    pub forwarded_bytes: u64,
    /// Tracks being received from publishers.
    pub up_tracks: usize,
    /// Tracks being sent to subscribers.
    pub down_tracks: usize,
    /// Datagrams that matched no participant.
    pub unroutable_datagrams: u64,
    /// STUN checks naming a participant whose MESSAGE-INTEGRITY did not verify.
    pub unauthenticated_checks: u64,
    /// Authentic checks from an address another live participant uses (dropped).
    pub address_conflicts: u64,
    /// Source addresses the demultiplexer knows now.
    pub known_addresses: usize,
    /// Datagrams handed to the kernel.
    pub sent_datagrams: u64,
    /// Outgoing datagrams dropped because the socket buffer was full.
    pub dropped_datagrams: u64,
    /// Packets for ICE-TCP peers dropped because their queue was full (they stopped
    /// reading) or their connection was gone.
    pub tcp_dropped: u64,
    /// ICE-TCP connections refused because too many were open.
    pub tcp_refused: u64,
    /// ICE-TCP connections open now.
    pub tcp_links: usize,
    /// `sendmmsg` calls that sent them.
    pub send_calls: u64,
    /// Times a subscriber's link changed its simulcast layer ceiling (loss).
    pub layer_ceiling_changes: u64,
    /// Per RTP packet that was forwarded: from its arrival in the socket (the
    /// kernel's stamp) to its forwards being handed to the kernel.
    pub forward_delay: crate::delay::DelayHistogram,
}

/// Handle to the media thread.
#[derive(Debug, Clone)]
pub struct Sfu {
    commands: mpsc::UnboundedSender<Command>,
    local_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    next_id: Arc<AtomicU64>,
    media_thread: i32,
    simulcast: bool,
    /// When the media loop last went round (see [`LoopBeat`]).
    beat: LoopBeat,
}

/// The media loop's heartbeat: it goes round at least once a second even when idle,
/// and stamps this each time, so a loop that stops (a hang, a busy spin in one
/// handler) shows as silence a supervisor can see without asking the loop.
#[derive(Debug, Clone)]
struct LoopBeat {
    origin: Instant,
    last_ms: Arc<AtomicU64>,
}

impl LoopBeat {
    fn new() -> Self {
        Self {
            origin: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn stamp(&self) {
        let ms = self.origin.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn silent_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.origin.elapsed().saturating_sub(last)
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Join { id, .. } => write!(f, "Join({id})"),
            Command::Answer { id, .. } => write!(f, "Answer({id})"),
            Command::Leave { id } => write!(f, "Leave({id})"),
            Command::SetPresent { id, present } => write!(f, "SetPresent({id}, {present})"),
            Command::SetSources { id, sources } => write!(f, "SetSources({id}, {sources:?})"),
            Command::Renegotiate { id } => write!(f, "Renegotiate({id})"),
            Command::PreferLayer {
                id,
                track_id,
                layer,
            } => write!(f, "PreferLayer({id}, {track_id}, {layer})"),
            Command::Stats { .. } => write!(f, "Stats"),
            Command::Stall(d) => write!(f, "Stall({d:?})"),
            Command::Record { room, tap } => write!(f, "Record({room}, {})", tap.is_some()),
            Command::RequestKeyframe { room, up_track } => {
                write!(f, "RequestKeyframe({room}, {up_track})")
            }
        }
    }
}

impl Sfu {
    /// Binds the UDP port and starts the media thread.
    pub fn start(config: SfuConfig) -> io::Result<Self> {
        let socket = bind_media_socket(config.udp_bind)?;
        let bound = socket.local_addr()?;
        let local_addr = SocketAddr::new(config.announce_ip, bound.port());
        let tcp = match config.tcp_bind {
            Some(addr) => {
                let listener = std::net::TcpListener::bind(addr)?;
                listener.set_nonblocking(true)?;
                let port = listener.local_addr()?.port();
                Some((listener, SocketAddr::new(config.announce_ip, port)))
            }
            None => None,
        };
        let tcp_addr = tcp.as_ref().map(|(_, a)| *a);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let simulcast = config.simulcast;
        // The thread reports its id once it runs (and so carries its name), so that
        // whoever starts the SFU can tell it from the other threads without racing it.
        let (started, thread_id) = std::sync::mpsc::sync_channel(1);
        let beat = LoopBeat::new();
        let loop_beat = beat.clone();
        std::thread::Builder::new()
            .name(MEDIA_THREAD_NAME.into())
            .spawn(move || {
                let _ = started.send(nix::unistd::gettid().as_raw());
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        warn!(error = %e, "media runtime could not start");
                        return;
                    }
                };
                runtime.block_on(async move {
                    let socket = match tokio::net::UdpSocket::from_std(socket) {
                        Ok(s) => s,
                        Err(e) => {
                            warn!(error = %e, "media socket could not be registered");
                            return;
                        }
                    };
                    let tcp = match tcp {
                        Some((listener, announced)) => {
                            match tokio::net::TcpListener::from_std(listener) {
                                Ok(l) => Some((l, announced)),
                                Err(e) => {
                                    warn!(error = %e, "ICE-TCP listener could not be registered");
                                    None
                                }
                            }
                        }
                        None => None,
                    };
                    MediaLoop::new(socket, local_addr, config.simulcast, tcp)
                        .run(command_rx, loop_beat)
                        .await;
                });
            })?;
        let media_thread = thread_id
            .recv()
            .map_err(|_| io::Error::other("the media thread ended before it started"))?;
        info!(%bound, announced = %local_addr, "media plane listening (UDP)");
        if let Some(tcp) = tcp_addr {
            info!(announced = %tcp, "media plane listening (ICE-TCP)");
        }
        Ok(Self {
            commands,
            local_addr,
            tcp_addr,
            next_id: Arc::new(AtomicU64::new(1)),
            media_thread,
            simulcast,
            beat,
        })
    }

    /// How long since the media loop last went round: about a second at most while it
    /// works; more means it is stuck.
    pub fn loop_silent_for(&self) -> Duration {
        self.beat.silent_for()
    }

    /// A fault hook for supervision tests: blocks the media thread for `how_long`,
    /// as a hung loop would. The server exposes it only when configured to.
    pub fn stall(&self, how_long: Duration) {
        let _ = self.commands.send(Command::Stall(how_long));
    }

    /// Whether publishers may send simulcast layers (`[media] simulcast`): browsers
    /// are asked for them, and encoders that offer them are taken.
    pub fn takes_simulcast(&self) -> bool {
        self.simulcast
    }

    /// The kernel's id of the media thread (a `/proc/self/task` entry), running and
    /// named [`MEDIA_THREAD_NAME`] by the time [`Sfu::start`] returns.
    pub fn media_thread_id(&self) -> i32 {
        self.media_thread
    }

    /// The address browsers send media to.
    pub fn media_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The ICE-TCP address announced to browsers, when ICE-TCP is on.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Places a participant in a room. The first [`PeerEvent::Offer`] follows on the
    /// handle.
    pub fn join(&self, request: JoinRequest) -> PeerHandle {
        let id = ParticipantId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (events_tx, events) = mpsc::unbounded_channel();
        let _ = self.commands.send(Command::Join {
            id,
            request,
            offer: None,
            events: events_tx,
        });
        PeerHandle {
            id,
            events,
            commands: self.commands.clone(),
            left: false,
        }
    }

    /// Places a publishing client that makes its own offer (WHIP, RFC 9725): the first
    /// event on the handle is [`PeerEvent::Answer`], or [`PeerEvent::Closed`] when the
    /// offer cannot be accepted. Its first audio m-line is taken as the microphone,
    /// its first video as the camera and a second video as the screen. It never
    /// subscribes, so it is never sent an offer.
    pub fn ingest(&self, request: JoinRequest, offer: String) -> PeerHandle {
        let id = ParticipantId(self.next_id.fetch_add(1, Ordering::Relaxed));
        let (events_tx, events) = mpsc::unbounded_channel();
        let _ = self.commands.send(Command::Join {
            id,
            request,
            offer: Some(offer),
            events: events_tx,
        });
        PeerHandle {
            id,
            events,
            commands: self.commands.clone(),
            left: false,
        }
    }

    /// Moves a participant between the lobby (`false`: no media in or out) and the room.
    pub fn set_present(&self, id: ParticipantId, present: bool) {
        let _ = self.commands.send(Command::SetPresent { id, present });
    }

    /// Changes which of a participant's sources reach the room (mute, screen sharing,
    /// promotion). Enforced in the forwarder.
    pub fn set_sources(&self, id: ParticipantId, sources: SourcePolicy) {
        let _ = self.commands.send(Command::SetSources { id, sources });
    }

    /// Starts (`Some`) or stops (`None`) offering a room's forwarded packets to a
    /// recorder. Only what reaches the room is offered: nothing from the lobby, nothing
    /// muted or held back.
    pub fn record(&self, room: &str, tap: Option<RecordingTap>) {
        let _ = self.commands.send(Command::Record {
            room: room.to_owned(),
            tap,
        });
    }

    /// Asks a track's publisher for a keyframe (the recorder starting a part).
    pub fn request_keyframe(&self, room: &str, up_track: UpTrackId) {
        let _ = self.commands.send(Command::RequestKeyframe {
            room: room.to_owned(),
            up_track,
        });
    }

    /// A snapshot of the media plane's counters.
    pub async fn stats(&self) -> Option<SfuStats> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.commands.send(Command::Stats { reply }).ok()?;
        rx.await.ok()
    }
}

/// One participant's end of the media plane. Dropping it removes the participant.
#[derive(Debug)]
pub struct PeerHandle {
    id: ParticipantId,
    events: mpsc::UnboundedReceiver<PeerEvent>,
    commands: mpsc::UnboundedSender<Command>,
    /// Whether [`PeerHandle::leave`] already removed the participant.
    left: bool,
}

impl PeerHandle {
    /// The media plane's id of this participant.
    pub fn id(&self) -> ParticipantId {
        self.id
    }

    /// The next event, or `None` once the media plane has stopped.
    pub async fn next_event(&mut self) -> Option<PeerEvent> {
        self.events.recv().await
    }

    /// The browser's answer to the latest offer.
    pub fn answer(&self, sdp: String) {
        let _ = self.commands.send(Command::Answer { id: self.id, sdp });
    }

    /// Removes the participant and returns the connection's final
    /// [`PeerEvent::Sample`]: what it measured since the last one, which for a
    /// connection shorter than [`SAMPLE_INTERVAL`] is everything. `None` when the
    /// connection never came up, or already ended (its final sample then came before
    /// [`PeerEvent::Closed`]). Other events still queued are dropped.
    pub async fn leave(&mut self) -> Option<MediaSample> {
        if !self.left {
            self.left = true;
            let _ = self.commands.send(Command::Leave { id: self.id });
        }
        while let Some(event) = self.events.recv().await {
            if let PeerEvent::Sample(sample) = event {
                return Some(sample);
            }
        }
        None
    }

    /// Asks for a fresh offer (the browser has a new track to send into a slot, or
    /// wants an ICE restart after its network changed).
    pub fn renegotiate(&self) {
        let _ = self.commands.send(Command::Renegotiate { id: self.id });
    }

    /// The simulcast layer this participant would like of a track it receives, named
    /// by the track id its SDP gave it (`a=msid`; a browser's `track.id`). Only its own
    /// down-tracks can be named; another id changes nothing.
    pub fn prefer_layer(&self, track_id: String, layer: Layer) {
        let _ = self.commands.send(Command::PreferLayer {
            id: self.id,
            track_id,
            layer,
        });
    }
}

impl Drop for PeerHandle {
    fn drop(&mut self) {
        if !self.left {
            let _ = self.commands.send(Command::Leave { id: self.id });
        }
    }
}

#[derive(Clone)]
struct IncomingTrack {
    up_track: UpTrackId,
    kind: MediaKind,
    source: Source,
    receiver_id: RTCRtpReceiverId,
    /// Sent as simulcast: its layers are told apart by SSRC, and a packet of another
    /// SSRC is dropped. Without simulcast the one layer takes whatever SSRC comes.
    simulcast: bool,
    /// One per simulcast layer that has arrived (one without simulcast).
    layers: Vec<IncomingLayer>,
    /// Its codec, as negotiated with the publisher.
    codec: Codec,
    /// What a recorder is told about it.
    recorded: Arc<TrackInfo>,
}

#[derive(Clone)]
struct IncomingLayer {
    layer: Layer,
    ssrc: u32,
    /// What arrived on it (loss on the wire, jitter, bytes, frames).
    arrivals: ArrivalCounter,
}

impl IncomingLayer {
    fn new(layer: Layer, ssrc: u32, kind: MediaKind) -> Self {
        Self {
            layer,
            ssrc,
            arrivals: ArrivalCounter::new(match kind {
                MediaKind::Audio => 48_000,
                MediaKind::Video => 90_000,
            }),
        }
    }
}

impl IncomingTrack {
    /// The layer a packet of `ssrc` belongs to.
    fn layer_mut(&mut self, ssrc: u32) -> Option<&mut IncomingLayer> {
        if self.simulcast {
            self.layers.iter_mut().find(|l| l.ssrc == ssrc)
        } else {
            self.layers.first_mut()
        }
    }

    /// The SSRC to ask for a keyframe of `layer`.
    fn ssrc_of(&self, layer: Layer) -> Option<u32> {
        self.layers
            .iter()
            .find(|l| l.layer == layer)
            .map(|l| l.ssrc)
    }

    /// What arrived on all its layers: a simulcast track's uplink is all of them.
    fn arrivals(&self) -> ArrivalCounts {
        ArrivalCounts::merged(self.layers.iter().map(|l| l.arrivals.counts()))
    }
}

struct OutgoingTrack {
    sender_id: RTCRtpSenderId,
    ssrc: u32,
    kind: MediaKind,
    /// The publisher's label and source, and the SDP track id, for samples.
    publisher: String,
    source: Option<Source>,
    track_id: String,
    forwarded: u64,
    /// The publisher's gaps it passed on (see [`PassedGaps`]).
    gaps: PassedGaps,
    /// Included in an offer sent to the browser.
    offered: bool,
    /// The browser's answer to an offer including it has been applied.
    negotiated: bool,
    /// Handed to the forwarder as ready.
    bound: bool,
}

struct Peer {
    room: String,
    label: String,
    /// How its last datagram came (UDP or ICE-TCP).
    transport: Option<Transport>,
    /// Its ICE-TCP peer address, when its media comes that way.
    tcp_peer: Option<SocketAddr>,
    pc: RTCPeerConnection,
    events: mpsc::UnboundedSender<PeerEvent>,
    /// Set once the connection is up: when its counters began, and when its next
    /// sample is due (every [`SAMPLE_INTERVAL`] from connecting, so connections are
    /// read at different moments).
    connected: Option<Sampling>,
    awaiting_answer: bool,
    needs_offer: bool,
    sources: SourcePolicy,
    /// The transceivers of the publishing slots, in [`Source::SLOTS`] order.
    slots: Vec<usize>,
    /// Its offers ask for the camera in simulcast layers (a browser publisher).
    simulcast: bool,
    /// An answer with the camera's layers has been applied: later answers are given
    /// to `rtc` without the camera's track description (see
    /// [`simulcast::keep_layers_bound`]).
    layers_negotiated: bool,
    incoming: HashMap<String, IncomingTrack>,
    outgoing: HashMap<DownTrackId, OutgoingTrack>,
    outgoing_by_track: HashMap<String, DownTrackId>,
    /// What each outgoing stream's receiver reported (NACKs, receiver reports).
    feedback: FeedbackTally,
    /// The transport-wide sequence number's header extension id, once negotiated.
    twcc_extension: Option<u8>,
    /// Arrivals of this connection's packets, for its congestion feedback.
    arrivals: twcc::Arrivals,
    /// Forwarded to since its pipeline was last polled empty (see
    /// [`MediaLoop::unflushed`]).
    unflushed: bool,
    /// The highest simulcast layer its link carries, from its loss.
    link: LinkGovernor,
}

impl Peer {
    /// The MID of the camera's media section, if this connection asks for it in
    /// simulcast layers (and the section has been offered).
    fn camera_mid(&mut self) -> Option<String> {
        let slot = self.slots.get(1).copied().filter(|_| self.simulcast)?;
        self.pc.rtp_transceiver(slot)?.mid().clone()
    }

    /// What the SFU measured on this connection so far (cumulative counters), or
    /// `None` if it never connected.
    fn measure(&mut self, now: Instant) -> Option<MediaSample> {
        let counting_since = Some(self.connected?.since);
        let taken_at = Some(std::time::SystemTime::now());
        let report = self.pc.get_stats(now, StatsSelector::None);
        let mut by_ssrc: HashMap<u32, DownlinkCounts> = HashMap::new();
        let mut feedback: HashMap<u32, (u64, u64)> = HashMap::new();
        for entry in report.iter() {
            match entry {
                RTCStatsReportEntry::InboundRtp(i) => {
                    feedback.insert(
                        i.received_rtp_stream_stats.rtp_stream_stats.ssrc,
                        (u64::from(i.nack_count), u64::from(i.pli_count)),
                    );
                }
                RTCStatsReportEntry::OutboundRtp(o) => {
                    let sent = &o.sent_rtp_stream_stats;
                    let d = by_ssrc.entry(sent.rtp_stream_stats.ssrc).or_default();
                    d.packets_sent = sent.packets_sent;
                    d.bytes_sent = sent.bytes_sent;
                }
                _ => {}
            }
        }
        let down = self
            .outgoing
            .values()
            .filter_map(|t| {
                by_ssrc.get(&t.ssrc).map(|d| {
                    let said = self.feedback.of(t.ssrc);
                    DownlinkCounts {
                        ssrc: t.ssrc,
                        publisher: t.publisher.clone(),
                        source: t.source,
                        track_id: t.track_id.clone(),
                        packets_forwarded: t.forwarded,
                        nacked_originals: said.nacked_originals,
                        passed_gaps: t.gaps.skipped(),
                        reported_lost: said.reported_lost,
                        jitter_ms: said.jitter_ms,
                        rtt_ms: said.rtt_ms,
                        video: t.kind == MediaKind::Video,
                        ..d.clone()
                    }
                })
            })
            .collect();
        let rtt_ms = report
            .candidate_pairs()
            .filter(|p| p.nominated)
            .map(|p| p.current_round_trip_time * 1000.0)
            .find(|rtt| *rtt > 0.0);
        let up = self
            .incoming
            .values()
            .map(|t| {
                let mut counts = t.arrivals();
                for layer in &t.layers {
                    if let Some((nacks, plis)) = feedback.get(&layer.ssrc) {
                        counts.nacks_sent += *nacks;
                        counts.plis_sent += *plis;
                    }
                }
                (t.source, counts)
            })
            .collect();
        Some(MediaSample {
            up,
            down,
            rtt_ms,
            taken_at,
            counting_since,
            transport: self.transport,
            tcp_dropped: 0,
        })
    }
}

#[derive(Debug, Clone, Copy)]
struct Sampling {
    since: std::time::SystemTime,
    next: Instant,
}

impl Sampling {
    fn new(connected: Instant) -> Self {
        Self {
            since: std::time::SystemTime::now(),
            next: connected + SAMPLE_INTERVAL,
        }
    }

    /// Whether a sample is due at `now`; if so, the next is scheduled one interval on,
    /// keeping the connection's own phase, but never sooner than half an interval
    /// from now (a sample read late is not followed by a catch-up burst).
    fn take_if_due(&mut self, now: Instant) -> bool {
        if self.next > now {
            return false;
        }
        self.next = (self.next + SAMPLE_INTERVAL).max(now + SAMPLE_INTERVAL / 2);
        true
    }
}

struct MediaLoop {
    socket: tokio::net::UdpSocket,
    local_addr: SocketAddr,
    /// The ICE-TCP listener and the address announced for it.
    tcp_listener: Option<(tokio::net::TcpListener, SocketAddr)>,
    /// Accepted ICE-TCP connections, by the peer's address.
    tcp_links: HashMap<SocketAddr, TcpLink>,
    /// Packets (and ends) from the ICE-TCP connections' readers.
    tcp_events: mpsc::Receiver<TcpEvent>,
    tcp_events_tx: mpsc::Sender<TcpEvent>,
    /// Browser publishers are asked for simulcast.
    simulcast: bool,
    peers: HashMap<ParticipantId, Peer>,
    /// Which connection each datagram belongs to (authenticated address learning).
    demux: Demux,
    rooms: HashMap<String, Forwarder>,
    /// Rooms being recorded.
    taps: HashMap<String, RecordingTap>,
    /// Reused for every packet so forwarding allocates nothing per packet.
    scratch: Vec<Outgoing>,
    /// Datagrams produced while handling one event, sent together after it.
    outbox: Outbox,
    stats: SfuStats,
    /// When to look next for connections due a sample.
    next_sample: Instant,
    /// When publishers get their next congestion feedback.
    next_feedback: Instant,
    /// Connections written to by forwarding and not yet polled until empty. A
    /// forwarded packet is one datagram, taken with a single `poll_write`; the call
    /// that would find the pipeline empty walks every handler and interceptor again
    /// for nothing, per packet and subscriber. These connections are swept at the
    /// next timer instead (at most [`UNFLUSHED_SWEEP`] later), in case something
    /// did queue behind a forwarded packet.
    unflushed: Vec<ParticipantId>,
    /// When the unflushed connections are swept next.
    next_sweep: Instant,
}

/// How long a datagram queued behind a forwarded packet may wait for its connection
/// to be polled again. No interceptor the SFU installs emits anything on a write,
/// so nothing is expected to wait; this bounds it if one ever does.
const UNFLUSHED_SWEEP: Duration = Duration::from_millis(20);

impl MediaLoop {
    fn new(
        socket: tokio::net::UdpSocket,
        local_addr: SocketAddr,
        simulcast: bool,
        tcp_listener: Option<(tokio::net::TcpListener, SocketAddr)>,
    ) -> Self {
        let (tcp_events_tx, tcp_events) = mpsc::channel(TCP_EVENTS);
        Self {
            socket,
            local_addr,
            tcp_listener,
            tcp_links: HashMap::new(),
            tcp_events,
            tcp_events_tx,
            simulcast,
            peers: HashMap::new(),
            demux: Demux::default(),
            rooms: HashMap::new(),
            taps: HashMap::new(),
            scratch: Vec::new(),
            outbox: Outbox::new(),
            stats: SfuStats::default(),
            next_sample: Instant::now() + SAMPLE_INTERVAL / SAMPLE_SLICES,
            next_feedback: Instant::now() + twcc::FEEDBACK_INTERVAL,
            unflushed: Vec::new(),
            next_sweep: Instant::now() + UNFLUSHED_SWEEP,
        }
    }

    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>, beat: LoopBeat) {
        let mut buf = vec![0u8; 2048];
        loop {
            beat.stamp();
            let deadline = self
                .peers
                .values_mut()
                .filter_map(|p| p.pc.poll_timeout())
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
                .min(self.next_sample)
                .min(self.next_feedback)
                .min(match self.unflushed.is_empty() {
                    true => Instant::now() + Duration::from_secs(1),
                    false => self.next_sweep,
                });
            let sleep = tokio::time::sleep_until(deadline.into());
            tokio::select! {
                command = commands.recv() => {
                    let Some(command) = command else { break };
                    self.on_command(command);
                }
                readable = self.socket.readable() => {
                    if let Err(e) = readable {
                        debug!(error = %e, "udp receive error");
                        continue;
                    }
                    // Whatever is already queued is handled now, without a trip
                    // through the scheduler and the timer scan per datagram; each
                    // one's output still leaves at once.
                    for _ in 0..RECEIVE_BATCH {
                        let received = self.socket.try_io(tokio::io::Interest::READABLE, || {
                            crate::delay::receive_stamped(&self.socket, &mut buf)
                        });
                        let (n, from, arrived_ns) = match received {
                            Ok(received) => received,
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                debug!(error = %e, "udp receive error");
                                break;
                            }
                        };
                        self.on_datagram(&buf[..n], (from, Transport::Udp));
                        let sent = self.flush();
                        if let Some(arrived_ns) = arrived_ns
                            && sent > 0
                            && is_rtp(&buf[..n])
                        {
                            let held_ns = crate::delay::wall_ns().saturating_sub(arrived_ns);
                            self.stats.forward_delay.observe(held_ns / 1000);
                        }
                    }
                }
                accepted = accept_tcp(&self.tcp_listener) => {
                    if let Ok((stream, from)) = accepted {
                        self.on_tcp_accept(stream, from);
                    }
                }
                Some(event) = self.tcp_events.recv() => {
                    match event {
                        TcpEvent::Packet(from, packet) => {
                            self.on_datagram(&packet, (from, Transport::Tcp));
                        }
                        TcpEvent::Closed(from) => {
                            self.tcp_links.remove(&from);
                        }
                    }
                }
                () = sleep => self.on_timers(),
            }
            self.flush();
        }
        for (_, mut peer) in self.peers.drain() {
            let _ = peer.pc.close();
        }
        info!("media plane stopped");
    }

    /// Sends what the last event produced; returns how many datagrams left.
    fn flush(&mut self) -> usize {
        let done = self.outbox.flush(&self.socket);
        self.stats.sent_datagrams += done.sent as u64;
        self.stats.dropped_datagrams += done.dropped as u64;
        self.stats.send_calls += done.calls as u64;
        done.sent
    }

    fn on_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Join {
                id,
                request,
                offer,
                events,
            } => {
                if let Err(reason) = self.add_peer(now, id, request, offer, events.clone()) {
                    warn!(participant = %id, %reason, "could not create connection");
                    let _ = events.send(PeerEvent::Closed { reason });
                }
            }
            Command::Answer { id, sdp } => self.on_answer(now, id, sdp),
            Command::Leave { id } => self.remove_peer(now, id, None),
            Command::SetPresent { id, present } => {
                let actions = self
                    .peers
                    .get(&id)
                    .and_then(|peer| self.rooms.get_mut(&peer.room))
                    .map(|forwarder| forwarder.set_present(now, id, present));
                match actions {
                    Some(Ok(actions)) => self.apply(now, actions),
                    Some(Err(e)) => debug!(participant = %id, error = %e, "set_present refused"),
                    None => {}
                }
            }
            Command::SetSources { id, sources } => self.set_sources(now, id, sources),
            Command::Renegotiate { id } => {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.needs_offer = true;
                }
                self.negotiate(now, id);
                self.drain(now, id);
            }
            Command::PreferLayer {
                id,
                track_id,
                layer,
            } => {
                let Some(peer) = self.peers.get(&id) else {
                    return;
                };
                let Some(down_track) = peer.outgoing_by_track.get(&track_id).copied() else {
                    debug!(participant = %id, "layer preference for a track it does not receive");
                    return;
                };
                if let Some(action) = self
                    .rooms
                    .get_mut(&peer.room)
                    .and_then(|f| f.set_preferred_layer(now, down_track, layer))
                {
                    self.apply(now, vec![action]);
                }
            }
            Command::Stall(how_long) => {
                warn!(?how_long, "media loop stalled on purpose (fault hook)");
                std::thread::sleep(how_long);
            }
            Command::Stats { reply } => {
                let mut stats = self.stats;
                stats.participants = self.peers.len();
                stats.up_tracks = self.peers.values().map(|p| p.incoming.len()).sum();
                stats.down_tracks = self.peers.values().map(|p| p.outgoing.len()).sum();
                stats.rooms = self.rooms.len();
                stats.unroutable_datagrams = self.demux.stats.unroutable;
                stats.unauthenticated_checks = self.demux.stats.unauthenticated;
                stats.address_conflicts = self.demux.stats.address_conflicts;
                stats.known_addresses = self.demux.addresses();
                stats.tcp_links = self.tcp_links.len();
                let _ = reply.send(stats);
            }
            Command::Record { room, tap } => match tap {
                Some(tap) => {
                    self.taps.insert(room, tap);
                }
                None => {
                    self.taps.remove(&room);
                }
            },
            Command::RequestKeyframe { room, up_track } => {
                if let Some(forwarder) = self.rooms.get_mut(&room) {
                    let actions = forwarder.request_keyframe(now, up_track);
                    self.apply(now, actions);
                }
            }
        }
    }

    fn set_sources(&mut self, now: Instant, id: ParticipantId, sources: SourcePolicy) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.sources = sources;
        let Some(forwarder) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        let mut actions = Vec::new();
        for track in peer.incoming.values() {
            actions.extend(forwarder.set_blocked(
                now,
                track.up_track,
                !sources.allows(track.source),
            ));
        }
        self.apply(now, actions);
    }

    fn add_peer(
        &mut self,
        now: Instant,
        id: ParticipantId,
        request: JoinRequest,
        offer: Option<String>,
        events: mpsc::UnboundedSender<PeerEvent>,
    ) -> Result<(), String> {
        let ufrag = format!("v{}{}", id.0, random_token(8));
        let password = random_token(24);
        let feedback = FeedbackTally::default();
        let mut pc = build_peer_connection(now, &ufrag, &password, feedback.clone())
            .map_err(|e| e.to_string())?;
        add_host_candidate(&mut pc, self.local_addr).map_err(|e| e.to_string())?;
        if let Some((_, tcp)) = &self.tcp_listener {
            add_tcp_candidate(&mut pc, *tcp).map_err(|e| e.to_string())?;
        }

        let mut slots = Vec::new();
        let answer = match &offer {
            Some(offer) => {
                slots = slots_of_offer(offer);
                Some(answer_offer(&mut pc, now, offer)?)
            }
            None => None,
        };
        if request.grant.publish && offer.is_none() {
            for source in Source::SLOTS {
                let kind = match source {
                    Source::Microphone => RtpCodecKind::Audio,
                    Source::Camera | Source::Screen => RtpCodecKind::Video,
                };
                slots.push(pc.get_transceivers().count());
                pc.add_transceiver_from_kind(
                    kind,
                    Some(RTCRtpTransceiverInit {
                        direction: RTCRtpTransceiverDirection::Recvonly,
                        streams: vec![],
                        send_encodings: vec![],
                    }),
                )
                .map_err(|e| e.to_string())?;
            }
        }
        self.demux.add(id, &ufrag, &password);
        self.peers.insert(
            id,
            Peer {
                room: request.room.clone(),
                label: request.label,
                transport: None,
                tcp_peer: None,
                pc,
                events,
                connected: None,
                awaiting_answer: false,
                needs_offer: answer.is_none(),
                sources: request.sources,
                simulcast: request.grant.publish && offer.is_none() && self.simulcast,
                layers_negotiated: false,
                slots,
                incoming: HashMap::new(),
                outgoing: HashMap::new(),
                outgoing_by_track: HashMap::new(),
                feedback,
                twcc_extension: answer.as_deref().and_then(twcc::extension_id),
                arrivals: twcc::Arrivals::new(rand::random()),
                unflushed: false,
                link: LinkGovernor::new(),
            },
        );
        let forwarder = self.rooms.entry(request.room).or_default();
        let actions = forwarder
            .join(now, id, request.grant)
            .map_err(|e| e.to_string())?;
        debug!(participant = %id, ingest = answer.is_some(), "joined media room");
        if let (Some(sdp), Some(peer)) = (answer, self.peers.get(&id)) {
            let _ = peer.events.send(PeerEvent::Answer { sdp });
        }
        self.apply(now, actions);
        self.negotiate(now, id);
        self.drain(now, id);
        Ok(())
    }

    /// Takes the participant out: its final sample (if it ever connected) and then,
    /// when the connection itself ended, `closed` go to its signaling session first.
    fn remove_peer(&mut self, now: Instant, id: ParticipantId, closed: Option<String>) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        // Read only for a listener: a dropped handle (a WHIP feed's end) has none.
        if !peer.events.is_closed()
            && let Some(mut sample) = peer.measure(now)
        {
            sample.tcp_dropped = tcp_dropped(&self.tcp_links, peer.tcp_peer);
            let _ = peer.events.send(PeerEvent::Sample(sample));
        }
        if let Some(reason) = closed {
            let _ = peer.events.send(PeerEvent::Closed { reason });
        }
        for (addr, transport) in self.demux.remove(id) {
            if transport == Transport::Tcp {
                self.tcp_links.remove(&addr);
            }
        }
        let _ = peer.pc.close();
        let actions = match self.rooms.get_mut(&peer.room) {
            Some(forwarder) => {
                let actions = forwarder.leave(id);
                if forwarder.is_empty() {
                    self.rooms.remove(&peer.room);
                }
                actions
            }
            None => Vec::new(),
        };
        debug!(participant = %id, "left media room");
        self.apply(now, actions);
    }

    fn on_answer(&mut self, now: Instant, id: ParticipantId, sdp: String) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if !peer.awaiting_answer {
            let _ = peer.events.send(PeerEvent::Rejected {
                reason: "no offer is waiting for an answer".into(),
            });
            return;
        }
        let camera_mid = peer.camera_mid();
        let (sdp, sends_layers) = match &camera_mid {
            Some(mid) if peer.layers_negotiated => (simulcast::keep_layers_bound(&sdp, mid), false),
            Some(mid) => {
                let sends = simulcast::answer_sends_layers(&sdp, mid);
                (sdp, sends)
            }
            None => (sdp, false),
        };
        let result = RTCSessionDescription::answer(sdp)
            .and_then(|answer| peer.pc.set_remote_description(now, answer));
        match result {
            Ok(()) => {
                peer.layers_negotiated |= sends_layers;
                if let Some(id) = peer
                    .pc
                    .remote_description()
                    .and_then(|d| twcc::extension_id(&d.sdp))
                {
                    peer.twcc_extension = Some(id);
                }
                peer.awaiting_answer = false;
                for track in peer.outgoing.values_mut() {
                    track.negotiated |= track.offered;
                }
                self.bind_ready(now, id);
                self.negotiate(now, id);
            }
            Err(e) => {
                debug!(participant = %id, error = %e, "answer rejected");
                let _ = peer.events.send(PeerEvent::Rejected {
                    reason: format!("the answer could not be applied: {e}"),
                });
            }
        }
        self.drain(now, id);
    }

    /// Sends a new offer if the participant's tracks changed and no offer is pending.
    fn negotiate(&mut self, now: Instant, id: ParticipantId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.awaiting_answer || !peer.needs_offer {
            return;
        }
        // An offer without media sections carries no ICE credentials and connects
        // nothing (webrtc-rs refuses to apply one); a receive-only participant in a
        // room with nothing published yet is offered once there is something.
        if peer.pc.get_transceivers().count() == 0 {
            return;
        }
        let offer = peer
            .pc
            .create_offer(None)
            .and_then(|offer| peer.pc.set_local_description(now, offer));
        let sdp = match offer {
            Ok(()) => peer.pc.local_description().map(|d| d.sdp),
            Err(e) => {
                warn!(participant = %id, error = %e, "could not create offer");
                None
            }
        };
        // The camera is asked for in simulcast layers, in every offer (see
        // `simulcast`). `rtc` writes that request only in answers and takes back as its
        // local description only the offer it wrote; what it needs to receive the
        // layers comes from the browser's answer.
        let sdp = match peer.camera_mid() {
            Some(mid) => sdp.map(|sdp| simulcast::request(&sdp, &mid)),
            None => sdp,
        };
        if let Some(sdp) = sdp {
            peer.needs_offer = false;
            peer.awaiting_answer = true;
            for track in peer.outgoing.values_mut() {
                track.offered = true;
            }
            let _ = peer.events.send(PeerEvent::Offer { sdp });
        }
    }

    /// Tells the forwarder which of a participant's down-tracks can now receive: those
    /// the browser has negotiated, once its connection is up.
    fn bind_ready(&mut self, now: Instant, id: ParticipantId) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        if peer.connected.is_none() {
            return;
        }
        let Some(forwarder) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        let mut actions = Vec::new();
        for (down_track, track) in peer.outgoing.iter_mut() {
            if track.negotiated && !track.bound {
                track.bound = true;
                actions.extend(forwarder.bind(now, *down_track));
            }
        }
        self.apply(now, actions);
    }

    fn on_datagram(&mut self, datagram: &[u8], from: Origin) {
        let now = Instant::now();
        let Some(id) = self.demux.route(datagram, from, now) else {
            return;
        };
        let (peer_addr, transport) = from;
        let (local_addr, transport_protocol) = match transport {
            Transport::Udp => (self.local_addr, TransportProtocol::UDP),
            Transport::Tcp => {
                if let Some(link) = self.tcp_links.get_mut(&peer_addr) {
                    link.authenticated = true;
                }
                let local = self
                    .tcp_listener
                    .as_ref()
                    .map_or(self.local_addr, |(_, a)| *a);
                (local, TransportProtocol::TCP)
            }
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        peer.transport = Some(transport);
        if transport == Transport::Tcp {
            peer.tcp_peer = Some(peer_addr);
        }
        let read = peer.pc.handle_read(TaggedBytesMut {
            now,
            transport: TransportContext {
                local_addr,
                peer_addr,
                ecn: None,
                transport_protocol,
            },
            message: BytesMut::from(datagram),
        });
        if let Err(e) = read {
            debug!(participant = %id, error = %e, "datagram rejected by connection");
        }
        self.drain(now, id);
    }

    /// A new ICE-TCP connection: kept unless too many are open; until an authentic
    /// check arrives over it, it belongs to nobody (and is closed after
    /// [`TCP_UNAUTHENTICATED_FOR`]).
    fn on_tcp_accept(&mut self, stream: tokio::net::TcpStream, from: SocketAddr) {
        if self.tcp_links.len() >= MAX_TCP_LINKS {
            self.stats.tcp_refused += 1;
            return;
        }
        let link = TcpLink::start(stream, from, Instant::now(), self.tcp_events_tx.clone());
        self.tcp_links.insert(from, link);
    }

    fn on_timers(&mut self) {
        let now = Instant::now();
        if now >= self.next_sample {
            self.next_sample = now + SAMPLE_INTERVAL / SAMPLE_SLICES;
            self.sample(now);
            // ICE-TCP connections that never sent an authentic check belong to
            // nobody: closed after a while.
            self.tcp_links.retain(|_, link| {
                link.authenticated || now.duration_since(link.opened) < TCP_UNAUTHENTICATED_FOR
            });
        }
        if now >= self.next_feedback {
            self.next_feedback = now + twcc::FEEDBACK_INTERVAL;
            self.send_congestion_feedback(now);
        }
        if now >= self.next_sweep {
            self.next_sweep = now + UNFLUSHED_SWEEP;
            for id in std::mem::take(&mut self.unflushed) {
                if let Some(peer) = self.peers.get_mut(&id) {
                    peer.unflushed = false;
                    self.drain(now, id);
                }
            }
        }
        let due: Vec<ParticipantId> = self
            .peers
            .iter_mut()
            .filter_map(|(id, p)| p.pc.poll_timeout().is_some_and(|t| t <= now).then_some(*id))
            .collect();
        for id in due {
            if let Some(peer) = self.peers.get_mut(&id) {
                let _ = peer.pc.handle_timeout(now);
            }
            self.drain(now, id);
        }
    }

    /// Every publisher that sent something since the last feedback is told what
    /// arrived when (RTCP transport-wide congestion feedback).
    fn send_congestion_feedback(&mut self, now: Instant) {
        for peer in self.peers.values_mut() {
            let Some(track) = peer.incoming.values().next() else {
                continue;
            };
            let (receiver_id, media_ssrc) = (track.receiver_id, track.layers[0].ssrc);
            let Some(feedback) = peer.arrivals.feedback(media_ssrc) else {
                continue;
            };
            if let Some(mut receiver) = peer.pc.rtp_receiver(receiver_id) {
                let _ = receiver.write_rtcp(now, vec![Box::new(feedback)]);
            }
            while let Some(out) = peer.pc.poll_write() {
                emit(out, &mut self.outbox, &mut self.tcp_links, &mut self.stats);
            }
        }
    }

    /// Reports the measurements of the connections due a sample to their signaling
    /// sessions, at most one [`SAMPLE_SLICES`]th of all connections at a time; one not
    /// read now is still due at the next look.
    fn sample(&mut self, now: Instant) {
        let mut budget = self.peers.len().div_ceil(SAMPLE_SLICES as usize);
        let mut ceilings = Vec::new();
        for (id, peer) in &mut self.peers {
            if budget == 0 {
                break;
            }
            let Some(sampling) = peer.connected.as_mut() else {
                continue;
            };
            if !sampling.take_if_due(now) {
                continue;
            }
            budget -= 1;
            if let Some(mut sample) = peer.measure(now) {
                sample.tcp_dropped = tcp_dropped(&self.tcp_links, peer.tcp_peer);
                let video = sample.down.iter().filter(|d| d.video);
                let totals = video.fold(LinkTotals::default(), |t, d| LinkTotals {
                    sent: t.sent + d.packets_forwarded,
                    lost: t.lost + d.nacked_originals,
                });
                if let Some(ceiling) = peer.link.observe(now, totals) {
                    info!(participant = %id, ceiling, "downlink layer ceiling changed");
                    ceilings.push((*id, peer.room.clone(), ceiling));
                }
                let _ = peer.events.send(PeerEvent::Sample(sample));
            }
        }
        for (id, room, ceiling) in ceilings {
            self.stats.layer_ceiling_changes += 1;
            if let Some(forwarder) = self.rooms.get_mut(&room) {
                let actions = forwarder.set_layer_ceiling(now, id, ceiling);
                self.apply(now, actions);
            }
        }
    }

    /// Flushes one connection: datagrams out, events and media in, repeatedly until it
    /// has nothing more to say. Media it received is forwarded (and those connections
    /// flushed) on the way.
    fn drain(&mut self, now: Instant, id: ParticipantId) {
        loop {
            let Some(peer) = self.peers.get_mut(&id) else {
                return;
            };
            let mut progressed = false;
            while let Some(out) = peer.pc.poll_write() {
                progressed = true;
                emit(out, &mut self.outbox, &mut self.tcp_links, &mut self.stats);
            }
            let mut events = Vec::new();
            while let Some(event) = peer.pc.poll_event() {
                events.push(event);
            }
            let mut messages = Vec::new();
            while let Some(TaggedRTCMessage { message, .. }) = peer.pc.poll_read() {
                messages.push(message);
            }
            progressed |= !events.is_empty() || !messages.is_empty();
            for event in events {
                self.on_peer_event(now, id, event);
            }
            for message in messages {
                self.on_peer_message(now, id, message);
            }
            if !progressed {
                return;
            }
        }
    }

    /// A publisher's track (or one more simulcast layer of it) opened: it is published
    /// to the room on the slot it arrived on, in the codec the publisher negotiated.
    fn on_track_open(&mut self, now: Instant, id: ParticipantId, init: RTCTrackEventInit) {
        let Some(peer) = self.peers.get_mut(&id) else {
            return;
        };
        // A simulcast layer names itself by RID; anything else is layer 0.
        let layer = match init.rid.as_deref() {
            None => None,
            Some(rid) => match simulcast::layer_of(rid) {
                Some(layer) => Some(layer),
                None => {
                    debug!(participant = %id, rid, "a layer the SFU did not ask for");
                    return;
                }
            },
        };
        // `rtc` reports every receiving track again after each renegotiation,
        // and a simulcast track once per layer; a receiver is published once.
        if let Some((key, existing)) = peer
            .incoming
            .iter_mut()
            .find(|(_, t)| t.receiver_id == init.receiver_id)
        {
            if let Some(layer) = layer
                && existing.simulcast
                && existing.ssrc_of(layer).is_none()
            {
                debug!(participant = %id, layer, "simulcast layer arrived");
                existing
                    .layers
                    .push(IncomingLayer::new(layer, init.ssrc, existing.kind));
            }
            if *key != init.track_id {
                let key = key.clone();
                if let Some(again) = peer.incoming.remove(&key) {
                    peer.incoming.insert(init.track_id, again);
                }
            }
            return;
        }
        // The slot (transceiver) the track arrived on says what it is.
        let slot = peer.slots.iter().position(|t| {
            peer.pc.rtp_transceiver(*t).and_then(|t| t.receiver()) == Some(init.receiver_id)
        });
        let Some(source) = slot.map(|i| Source::SLOTS[i]) else {
            debug!(participant = %id, "track on a transceiver that is no publishing slot");
            return;
        };
        let kind = match source {
            Source::Microphone => MediaKind::Audio,
            Source::Camera | Source::Screen => MediaKind::Video,
        };
        let allowed = peer.sources.allows(source);
        // The codec the publisher negotiated for this track (its first, for a
        // browser that accepted several: it sends with the first).
        let negotiated = peer.pc.rtp_receiver(init.receiver_id).and_then(|mut r| {
            r.get_parameters()
                .rtp_parameters
                .codecs
                .iter()
                .find_map(|c| {
                    Codec::from_mime(&c.rtp_codec.mime_type)
                        .filter(|codec| codec.is_video() == (kind == MediaKind::Video))
                        .map(|codec| (codec, c.payload_type))
                })
        });
        let Some((codec, payload_type)) = negotiated else {
            warn!(participant = %id, ?source, "track in a codec the SFU does not forward");
            return;
        };
        let Some(forwarder) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        let layers = if layer.is_some() { MAX_LAYERS as u8 } else { 1 };
        match forwarder.publish_layered(now, id, kind, layers) {
            Ok((up_track, mut actions)) => {
                debug!(participant = %id, ?source, %up_track, layers, "track published");
                if !allowed {
                    actions.extend(forwarder.set_blocked(now, up_track, true));
                }
                peer.incoming.insert(
                    init.track_id,
                    IncomingTrack {
                        up_track,
                        kind,
                        source,
                        receiver_id: init.receiver_id,
                        simulcast: layer.is_some(),
                        layers: vec![IncomingLayer::new(layer.unwrap_or(0), init.ssrc, kind)],
                        codec,
                        recorded: Arc::new(TrackInfo {
                            up_track,
                            label: peer.label.clone(),
                            source: source.name().to_owned(),
                            codec,
                            payload_type,
                        }),
                    },
                );
                self.apply(now, actions);
            }
            Err(e) => warn!(participant = %id, error = %e, "publish refused"),
        }
    }

    fn on_peer_event(&mut self, now: Instant, id: ParticipantId, event: RTCPeerConnectionEvent) {
        match event {
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnOpen(init)) => {
                self.on_track_open(now, id, init);
            }
            RTCPeerConnectionEvent::OnTrack(RTCTrackEvent::OnClose(track_id)) => {
                let Some(peer) = self.peers.get_mut(&id) else {
                    return;
                };
                if let Some(track) = peer.incoming.remove(&track_id)
                    && let Some(forwarder) = self.rooms.get_mut(&peer.room)
                {
                    let actions = forwarder.unpublish(track.up_track);
                    self.apply(now, actions);
                }
            }
            RTCPeerConnectionEvent::OnConnectionStateChangeEvent(state) => {
                debug!(participant = %id, %state, "connection state");
                if let Some(peer) = self.peers.get(&id) {
                    let _ = peer
                        .events
                        .send(PeerEvent::ConnectionState(state.to_string()));
                }
                if state == RTCPeerConnectionState::Connected {
                    if let Some(peer) = self.peers.get_mut(&id) {
                        peer.connected.get_or_insert_with(|| Sampling::new(now));
                    }
                    self.bind_ready(now, id);
                }
                if matches!(
                    state,
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                ) {
                    self.remove_peer(now, id, Some(format!("media connection {state}")));
                }
            }
            _ => {}
        }
    }

    fn on_peer_message(&mut self, now: Instant, id: ParticipantId, message: RTCMessage) {
        match message {
            RTCMessage::RtpPacket(track_id, packet) => self.forward(now, id, &track_id, packet),
            RTCMessage::RtcpPacket(track_id, packets) => {
                let Some(peer) = self.peers.get(&id) else {
                    return;
                };
                let Some(down_track) = peer.outgoing_by_track.get(&track_id).copied() else {
                    return;
                };
                let wants_keyframe = packets.iter().any(|p| {
                    let any = p.as_any();
                    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
                });
                if !wants_keyframe {
                    return;
                }
                let room = peer.room.clone();
                if let Some(action) = self
                    .rooms
                    .get_mut(&room)
                    .and_then(|f| f.on_keyframe_request(now, down_track))
                {
                    self.apply(now, vec![action]);
                }
            }
            _ => {}
        }
    }

    fn forward(
        &mut self,
        now: Instant,
        from: ParticipantId,
        track_id: &str,
        packet: rtc::rtp::Packet,
    ) {
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        let Some(track) = peer.incoming.get_mut(track_id) else {
            return;
        };
        let meta = RtpMeta {
            sequence_number: packet.header.sequence_number,
            timestamp: packet.header.timestamp,
            keyframe_start: match track.codec {
                Codec::Opus => true,
                Codec::Vp8 => is_vp8_keyframe_start(&packet.payload),
                Codec::H264 => is_h264_keyframe_start(&packet.payload),
                // Not negotiated by the SFU; never reaches here.
                Codec::Vp9 => false,
            },
            // Only a simulcast track's numbering is continued across layers.
            vp8: match (track.codec, track.simulcast) {
                (Codec::Vp8, true) => Vp8Ids::read(&packet.payload),
                _ => Vp8Ids::default(),
            },
        };
        let (up_track, kind, codec) = (track.up_track, track.kind, track.codec);
        // Subscribers' legs carry the SFU's payload types, whatever the publisher's.
        let payload_type = payload_type_of(codec);
        let Some(incoming) = track.layer_mut(packet.header.ssrc) else {
            // A stream the publisher never announced as a layer of this track.
            return;
        };
        let layer = incoming.layer;
        if let Some(sequence) = peer
            .twcc_extension
            .and_then(|id| packet.header.get_extension(id))
            .filter(|ext| ext.len() >= 2)
            .map(|ext| u16::from_be_bytes([ext[0], ext[1]]))
        {
            peer.arrivals.on_packet(now, sequence);
        }
        incoming.arrivals.on_packet(
            now,
            meta.sequence_number,
            meta.timestamp,
            packet.payload.len(),
            meta.keyframe_start && kind == MediaKind::Video,
        );
        let Some(forwarder) = self.rooms.get_mut(&peer.room) else {
            return;
        };
        let mut outgoing = std::mem::take(&mut self.scratch);
        let keyframe_request = forwarder.on_rtp(now, up_track, layer, &meta, &mut outgoing);
        let mut recording_request = None;
        if let Some(tap) = self.taps.get(&peer.room)
            && forwarder.is_forwarding(up_track)
        {
            let (kept, request) = forwarder.record(now, up_track, layer, &meta);
            recording_request = request;
            if let Some((sequence_number, timestamp)) = kept {
                // One SSRC per recorded track, whichever layer it keeps.
                let ssrc = match track.simulcast {
                    true => track.layers[0].ssrc,
                    false => packet.header.ssrc,
                };
                tap.offer(Captured {
                    track: track.recorded.clone(),
                    packet: RtpPacket {
                        payload_type: packet.header.payload_type,
                        sequence_number,
                        timestamp,
                        ssrc,
                        marker: packet.header.marker,
                        payload: packet.payload.clone(),
                    },
                    arrival: now,
                    keyframe_start: meta.keyframe_start && kind == MediaKind::Video,
                });
            }
        }
        self.send_forwards(now, &packet, &meta, payload_type, &outgoing);
        self.scratch = outgoing;
        let requests: Vec<Action> = keyframe_request
            .into_iter()
            .chain(recording_request)
            .collect();
        if !requests.is_empty() {
            self.apply(now, requests);
        }
    }

    /// Writes one arriving packet to every subscriber the forwarder chose, rewritten
    /// for each (sequence number, timestamp, SSRC, the SFU's payload type, and the VP8
    /// picture numbering after a layer switch), one datagram each.
    fn send_forwards(
        &mut self,
        now: Instant,
        packet: &rtc::rtp::Packet,
        meta: &RtpMeta,
        payload_type: u8,
        outgoing: &[Outgoing],
    ) {
        for out in outgoing {
            let Some(subscriber) = self.peers.get_mut(&out.subscriber) else {
                continue;
            };
            let Some(down) = subscriber.outgoing.get_mut(&out.down_track) else {
                continue;
            };
            // Header extension ids are negotiated per connection and the SFU writes
            // none on its sending legs, so none may be carried over (nor copied: this
            // runs per packet and subscriber).
            let copy = rtc::rtp::Packet {
                header: rtc::rtp::header::Header {
                    version: packet.header.version,
                    padding: false,
                    extension: false,
                    marker: packet.header.marker,
                    payload_type,
                    sequence_number: out.sequence_number,
                    timestamp: out.timestamp,
                    ssrc: down.ssrc,
                    csrc: packet.header.csrc.clone(),
                    ..Default::default()
                },
                payload: if out.vp8 == meta.vp8 {
                    packet.payload.clone()
                } else {
                    // Continuing another layer's picture numbering (after a switch).
                    let mut payload = BytesMut::from(&packet.payload[..]);
                    out.vp8.write(&mut payload);
                    payload.freeze()
                },
            };
            if let Some(mut sender) = subscriber.pc.rtp_sender(down.sender_id) {
                match sender.write_rtp(now, copy) {
                    Ok(()) => {
                        down.forwarded += 1;
                        down.gaps.on_sent(out.sequence_number);
                        self.stats.forwarded_packets += 1;
                        self.stats.forwarded_bytes += packet.payload.len() as u64;
                    }
                    Err(e) => debug!(subscriber = %out.subscriber, error = %e, "write_rtp"),
                }
            }
            // One datagram per forwarded packet; see `MediaLoop::unflushed`.
            if let Some(datagram) = subscriber.pc.poll_write() {
                emit(
                    datagram,
                    &mut self.outbox,
                    &mut self.tcp_links,
                    &mut self.stats,
                );
            }
            if !subscriber.unflushed {
                subscriber.unflushed = true;
                self.unflushed.push(out.subscriber);
            }
        }
    }

    /// Adds a sending track for `down_track` to the subscriber's connection, with the
    /// publisher's codec and a fresh SSRC; true when the subscriber needs an offer.
    fn add_down_track(
        &mut self,
        subscriber: ParticipantId,
        down_track: DownTrackId,
        publisher: ParticipantId,
        up_track: UpTrackId,
        kind: MediaKind,
    ) -> bool {
        let label = self
            .peers
            .get(&publisher)
            .map(|p| p.label.clone())
            .unwrap_or_default();
        let ssrc = rand::random::<u32>();
        let up = self
            .peers
            .get(&publisher)
            .and_then(|p| p.incoming.values().find(|t| t.up_track == up_track));
        let source = up.map(|t| t.source);
        let up_codec = up.map_or(
            match kind {
                MediaKind::Audio => Codec::Opus,
                MediaKind::Video => Codec::Vp8,
            },
            |t| t.codec,
        );
        let Some(peer) = self.peers.get_mut(&subscriber) else {
            return false;
        };
        let (codec_kind, codec) = codec_params(up_codec);
        let kind_name = match kind {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        };
        let track_id = format!("{label}-{kind_name}-{down_track}");
        let track = MediaStreamTrack::new(
            label.clone(),
            track_id.clone(),
            label.clone(),
            codec_kind,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec.rtp_codec,
                ..Default::default()
            }],
        );
        // A transceiver of its own: `add_track` would reuse the
        // participant's receive-only publish slot of the same kind (JSEP
        // reuse rules), which the browser answers as send-only.
        let added = peer.pc.add_transceiver_from_track(
            track,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Sendonly,
                streams: vec![],
                send_encodings: vec![],
            }),
        );
        match added.map(RTCRtpSenderId::from) {
            Ok(sender_id) => {
                peer.outgoing.insert(
                    down_track,
                    OutgoingTrack {
                        sender_id,
                        ssrc,
                        kind,
                        publisher: label,
                        source,
                        track_id: track_id.clone(),
                        forwarded: 0,
                        gaps: PassedGaps::default(),
                        offered: false,
                        negotiated: false,
                        bound: false,
                    },
                );
                peer.outgoing_by_track.insert(track_id, down_track);
                peer.needs_offer = true;
                true
            }
            Err(e) => {
                warn!(%subscriber, error = %e, "add_track failed");
                false
            }
        }
    }

    fn apply(&mut self, now: Instant, actions: Vec<Action>) {
        let mut renegotiate = Vec::new();
        for action in actions {
            match action {
                Action::AddDownTrack {
                    subscriber,
                    down_track,
                    publisher,
                    up_track,
                    kind,
                } => {
                    if self.add_down_track(subscriber, down_track, publisher, up_track, kind) {
                        renegotiate.push(subscriber);
                    }
                }
                Action::RemoveDownTrack {
                    subscriber,
                    down_track,
                } => {
                    let Some(peer) = self.peers.get_mut(&subscriber) else {
                        continue;
                    };
                    if let Some(out) = peer.outgoing.remove(&down_track) {
                        peer.outgoing_by_track.retain(|_, d| *d != down_track);
                        if let Err(e) = peer.pc.remove_track(out.sender_id) {
                            debug!(%subscriber, error = %e, "remove_track failed");
                        }
                        peer.needs_offer = true;
                        renegotiate.push(subscriber);
                    }
                }
                Action::RequestKeyframe {
                    publisher,
                    up_track,
                    layer,
                } => {
                    let Some(peer) = self.peers.get_mut(&publisher) else {
                        continue;
                    };
                    let Some(track) = peer.incoming.values().find(|t| t.up_track == up_track)
                    else {
                        continue;
                    };
                    let Some(media_ssrc) = track.ssrc_of(layer) else {
                        continue;
                    };
                    let receiver_id = track.receiver_id;
                    if let Some(mut receiver) = peer.pc.rtp_receiver(receiver_id) {
                        let _ = receiver.write_rtcp(
                            now,
                            vec![Box::new(PictureLossIndication {
                                sender_ssrc: 0,
                                media_ssrc,
                            })],
                        );
                    }
                    renegotiate.push(publisher);
                }
            }
        }
        renegotiate.sort();
        renegotiate.dedup();
        for id in renegotiate {
            self.negotiate(now, id);
            // Flush without recursing into `drain`'s event handling: anything the
            // connection has to say beyond datagrams is picked up on its next drain.
            if let Some(peer) = self.peers.get_mut(&id) {
                while let Some(out) = peer.pc.poll_write() {
                    emit(out, &mut self.outbox, &mut self.tcp_links, &mut self.stats);
                }
            }
        }
    }
}

/// Packets dropped on a peer's ICE-TCP connection so far.
fn tcp_dropped(links: &HashMap<SocketAddr, TcpLink>, peer: Option<SocketAddr>) -> u64 {
    peer.and_then(|a| links.get(&a)).map_or(0, |l| l.dropped)
}

/// Sends what a connection wrote: over the shared UDP socket (batched in the outbox),
/// or into the queue of the ICE-TCP connection it goes to, where a full queue (a
/// peer that stopped reading) drops it and counts it on that connection.
fn emit(
    out: TaggedBytesMut,
    outbox: &mut Outbox,
    tcp_links: &mut HashMap<SocketAddr, TcpLink>,
    stats: &mut SfuStats,
) {
    if out.transport.transport_protocol != TransportProtocol::TCP {
        outbox.push(out.message, out.transport.peer_addr);
        return;
    }
    let sent = tcp_links
        .get_mut(&out.transport.peer_addr)
        .is_some_and(|link| link.send(&out.message));
    if sent {
        stats.sent_datagrams += 1;
    } else {
        stats.tcp_dropped += 1;
    }
}

/// The publishing slots of a client's offer, as transceiver indices in
/// [`Source::SLOTS`] order: the first audio m-line is the microphone, the first video
/// the camera, a second video the screen (transceivers are created in m-line order).
/// A slot the offer lacks points nowhere.
fn slots_of_offer(sdp: &str) -> Vec<usize> {
    let mut slots = vec![usize::MAX; Source::SLOTS.len()];
    let (mut videos, mut index) = (0, 0);
    for line in sdp.lines() {
        let Some(media) = line.strip_prefix("m=") else {
            continue;
        };
        if media.starts_with("audio") && slots[0] == usize::MAX {
            slots[0] = index;
        } else if media.starts_with("video") && videos < 2 {
            slots[1 + videos] = index;
            videos += 1;
        }
        index += 1;
    }
    slots
}

/// The payload type a codec has in the SFU's own SDP.
/// Applies an ingest client's offer and returns the answer.
fn answer_offer(pc: &mut RTCPeerConnection, now: Instant, offer: &str) -> Result<String, String> {
    let description = RTCSessionDescription::offer(offer.to_owned()).map_err(|e| e.to_string())?;
    pc.set_remote_description(now, description)
        .map_err(|e| format!("the offer could not be applied: {e}"))?;
    let answer = pc.create_answer(None).map_err(|e| e.to_string())?;
    pc.set_local_description(now, answer)
        .map_err(|e| e.to_string())?;
    Ok(pc
        .local_description()
        .map(|d| d.sdp)
        .ok_or("no answer was produced")?)
}

/// Fuzzing entry (`crate::fuzzing::sdp`): what the media thread does with SDP a client
/// sent, as a WHIP offer and as a browser's answer to an offer asking for simulcast.
pub(crate) fn apply_client_sdp(text: &str) {
    let now = Instant::now();
    let local: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 9));
    let _ = slots_of_offer(text);
    let _ = twcc::extension_id(text);
    if let Ok(mut pc) = build_peer_connection(
        now,
        "vfuzz",
        "fuzz-password-0123456789",
        FeedbackTally::default(),
    ) && add_host_candidate(&mut pc, local).is_ok()
    {
        let _ = answer_offer(&mut pc, now, text);
    }
    let Ok(mut pc) = build_peer_connection(
        now,
        "vfuzz",
        "fuzz-password-0123456789",
        FeedbackTally::default(),
    ) else {
        return;
    };
    if add_host_candidate(&mut pc, local).is_err() {
        return;
    }
    for kind in [
        RtpCodecKind::Audio,
        RtpCodecKind::Video,
        RtpCodecKind::Video,
    ] {
        let init = RTCRtpTransceiverInit {
            direction: RTCRtpTransceiverDirection::Recvonly,
            streams: vec![],
            send_encodings: vec![],
        };
        if pc.add_transceiver_from_kind(kind, Some(init)).is_err() {
            return;
        }
    }
    if pc
        .create_offer(None)
        .and_then(|offer| pc.set_local_description(now, offer))
        .is_err()
    {
        return;
    }
    let mid = pc
        .rtp_transceiver(1)
        .and_then(|t| t.mid().clone())
        .unwrap_or_else(|| "1".to_owned());
    let _ = simulcast::answer_sends_layers(text, &mid);
    let kept = simulcast::keep_layers_bound(text, &mid);
    let _ = RTCSessionDescription::answer(kept)
        .and_then(|answer| pc.set_remote_description(now, answer));
}

fn payload_type_of(codec: Codec) -> u8 {
    match codec {
        Codec::Opus => OPUS_PAYLOAD_TYPE,
        Codec::H264 => H264_PAYLOAD_TYPE,
        Codec::Vp8 | Codec::Vp9 => VP8_PAYLOAD_TYPE,
    }
}

/// The SFU's parameters for a codec it forwards (VP9 is not negotiated: VP8's). Public
/// so that test and load-generating clients offer exactly what the SFU negotiates.
pub fn codec_params(codec: Codec) -> (RtpCodecKind, RTCRtpCodecParameters) {
    let video_feedback = || {
        vec![
            feedback("ccm", "fir"),
            feedback("nack", ""),
            feedback("nack", "pli"),
        ]
    };
    let (kind, mime_type, clock_rate, channels, sdp_fmtp_line, rtcp_feedback) = match codec {
        Codec::Opus => (
            RtpCodecKind::Audio,
            MIME_TYPE_OPUS,
            48000,
            2,
            "minptime=10;useinbandfec=1",
            vec![],
        ),
        Codec::H264 => (
            RtpCodecKind::Video,
            MIME_TYPE_H264,
            90000,
            0,
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
            video_feedback(),
        ),
        Codec::Vp8 | Codec::Vp9 => (
            RtpCodecKind::Video,
            MIME_TYPE_VP8,
            90000,
            0,
            "",
            video_feedback(),
        ),
    };
    (
        kind,
        RTCRtpCodecParameters {
            rtp_codec: RTCRtpCodec {
                mime_type: mime_type.to_owned(),
                clock_rate,
                channels,
                sdp_fmtp_line: sdp_fmtp_line.to_owned(),
                rtcp_feedback,
            },
            payload_type: payload_type_of(codec),
        },
    )
}

fn feedback(typ: &str, parameter: &str) -> RTCPFeedback {
    RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    }
}

/// Builds a connection with the SFU's codec set: Opus, VP8 and H.264, no RTX (the SFU
/// answers NACKs itself from the sending leg's history) and, of header extensions,
/// only MID and RID (which name a browser's simulcast layers).
fn build_peer_connection(
    now: Instant,
    ufrag: &str,
    password: &str,
    tally: FeedbackTally,
) -> Result<RTCPeerConnection, rtc::shared::error::Error> {
    let mut media_engine = MediaEngine::default();
    // VP8 before H.264: browsers send the first video codec they share with the SFU.
    for codec in [Codec::Opus, Codec::Vp8, Codec::H264] {
        let (codec_kind, parameters) = codec_params(codec);
        media_engine.register_codec(parameters, codec_kind)?;
    }
    // NACK as `configure_nack` sets it up, but with a 256-packet history per outgoing
    // stream instead of 1 024: 1.6 s of 1.5 Mbit/s video, longer than any receiver
    // keeps asking, and the history is allocated per subscribed video track up front
    // (`docs/benchmarks.md`, memory per track).
    for parameter in ["", "pli"] {
        media_engine.register_feedback(feedback("nack", parameter), RtpCodecKind::Video);
    }
    // The MID and RID header extensions name a simulcast layer's stream (its SSRC is
    // announced nowhere else). The SFU's own sending legs do not write them.
    configure_simulcast_extension_headers(&mut media_engine)?;
    let registry = configure_rtcp_reports(
        Registry::new()
            .with(
                Slot::NackResponder,
                NackResponderBuilder::new().with_size(NACK_HISTORY).build(),
            )
            .with(Slot::NackGenerator, NackGeneratorBuilder::new().build()),
    );
    // Above the NACK responder (4 000), so it sees originals going out but not the
    // retransmissions, and every NACK coming in.
    let registry = registry.with(Slot::Custom(9_500), LossFeedback::new(tally));
    // Transport-wide congestion feedback on what publishers send (`twcc`; built by
    // the media loop, not by an interceptor). The SFU does not estimate its own
    // sending legs, so it numbers none of its packets.
    for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
        media_engine.register_feedback(feedback(TYPE_RTCP_FB_TRANSPORT_CC, ""), kind);
        media_engine.register_header_extension(
            RTCRtpHeaderExtensionCapability {
                uri: twcc::EXTENSION_URI.to_owned(),
            },
            kind,
            None,
        )?;
    }
    let settings = SettingEngineBuilder::new()
        .with_lite(true)
        .with_ice_credentials(ufrag.to_owned(), password.to_owned())
        .build();
    RTCPeerConnectionBuilder::new()
        .with_setting_engine(settings)
        .with_media_engine(media_engine)
        .with_interceptor_registry(registry)
        .build(now)
}

/// Gives a connection its one local ICE candidate: UDP on `addr`, a host candidate.
/// Every connection here (the SFU's, and the load generator's and test clients') has
/// exactly one socket and no gathering.
pub fn add_host_candidate(
    pc: &mut RTCPeerConnection,
    addr: SocketAddr,
) -> Result<(), rtc::shared::error::Error> {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "udp".to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        ..Default::default()
    }
    .new_candidate_host()?;
    pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)
}

/// ICE-TCP connections open at once, authenticated or not; more are refused at
/// accept (each holds two small tasks and a queue).
const MAX_TCP_LINKS: usize = 4096;
/// An ICE-TCP connection that has not sent an authentic check after this long is
/// closed (it belongs to no participant).
const TCP_UNAUTHENTICATED_FOR: Duration = Duration::from_secs(10);
/// Packets from all ICE-TCP readers waiting for the media loop.
const TCP_EVENTS: usize = 4096;

/// Waits for the next ICE-TCP connection (forever, without a listener).
async fn accept_tcp(
    listener: &Option<(tokio::net::TcpListener, SocketAddr)>,
) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some((listener, _)) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Gives a connection its ICE-TCP candidate: a passive host candidate on `addr`
/// (RFC 6544), which browsers connect to when UDP does not get through. Its lower
/// local preference keeps UDP first wherever both work.
pub fn add_tcp_candidate(
    pc: &mut RTCPeerConnection,
    addr: SocketAddr,
) -> Result<(), rtc::shared::error::Error> {
    let candidate = CandidateHostConfig {
        base_config: CandidateConfig {
            network: "tcp".to_owned(),
            address: addr.ip().to_string(),
            port: addr.port(),
            component: 1,
            ..Default::default()
        },
        tcp_type: rtc::ice::tcp_type::TcpType::Passive,
    }
    .new_candidate_host()?;
    pc.add_local_candidate(RTCIceCandidate::from(&candidate).to_json()?)
}

/// Packets of history kept per outgoing video stream for answering NACKs.
const NACK_HISTORY: u16 = 256;

/// Socket buffer the kernel is asked for, each way. One socket carries every
/// participant: a keyframe forwarded to a room (20 packets × 9 receivers) or a packet
/// to hundreds of trainees is a burst the default 208 KiB send buffer cannot hold, and
/// a full buffer means dropped datagrams (`outbox`; 0.08–0.11% of packets in
/// two defense rooms, none with this; `docs/benchmarks.md`). The kernel caps the
/// request at `net.core.{w,r}mem_max` (see `docs/media.md`).
const SOCKET_BUFFER: usize = 4 << 20;

/// Whether a datagram is RTP (not RTCP, STUN or DTLS): version 2, and a second byte
/// outside RTCP's packet types 192–223 (RFC 5761's demultiplexing).
fn is_rtp(datagram: &[u8]) -> bool {
    datagram.len() >= 12 && datagram[0] >> 6 == 2 && !(192..=223).contains(&datagram[1])
}

fn bind_media_socket(addr: SocketAddr) -> io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = socket.set_send_buffer_size(SOCKET_BUFFER) {
        warn!(error = %e, "the media socket's send buffer could not be enlarged");
    }
    if let Err(e) = socket.set_recv_buffer_size(SOCKET_BUFFER) {
        warn!(error = %e, "the media socket's receive buffer could not be enlarged");
    }
    // Linux reports twice the size it grants; less than asked means the sysctl cap.
    if socket.send_buffer_size().unwrap_or(0) < SOCKET_BUFFER {
        warn!(
            "the media socket's send buffer is below {} MiB: raise net.core.wmem_max and \
             net.core.rmem_max (sysctl) to avoid drops in bursts",
            SOCKET_BUFFER >> 20
        );
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    if let Err(e) = crate::delay::enable_receive_stamps(&socket) {
        warn!(error = %e, "no receive stamps: the forwarding delay is not measured");
    }
    Ok(socket.into())
}

fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_sampled_every_interval_from_when_it_connected() {
        let connected = Instant::now();
        let mut sampling = Sampling::new(connected);
        let ms = Duration::from_millis;
        assert!(!sampling.take_if_due(connected + ms(1999)));
        assert!(sampling.take_if_due(connected + ms(2000)));
        assert!(!sampling.take_if_due(connected + ms(2100)), "taken once");
        // Read 250 ms late (the media thread had no budget left): the next is still
        // due on the connection's own phase, not 2 s after the late read.
        assert!(!sampling.take_if_due(connected + ms(3999)));
        assert!(sampling.take_if_due(connected + ms(4250)));
        assert!(sampling.take_if_due(connected + ms(6000)));
        // Read very late: no burst of catch-up samples.
        assert!(sampling.take_if_due(connected + ms(9000)));
        assert!(!sampling.take_if_due(connected + ms(9999)));
        assert!(sampling.take_if_due(connected + ms(10_000)));
    }
}
