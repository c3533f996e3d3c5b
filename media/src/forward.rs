//! The forwarding core: who receives which packet, and how it is rewritten.
//!
//! This is a pure state machine. It owns the room's up-tracks (what a participant
//! publishes), down-tracks (one per subscriber per up-track) and the per-down-track
//! sequence/timestamp munger. It never touches a socket, never reads the clock (every
//! call that depends on time takes `now`), and never parses SDP. The transport adapter
//! (`crate::sfu`) feeds it packets and carries out the [`Action`]s it returns.
//!
//! Rules enforced here, whatever the signaling layer says:
//! - only a participant whose grant allows publishing can own an up-track;
//! - only a participant whose grant allows subscribing gets down-tracks;
//! - nobody receives their own tracks;
//! - a down-track forwards nothing until it is bound (the adapter binds it once the
//!   subscriber has negotiated it and is connected, so nothing is sent into the void);
//! - a video down-track forwards nothing until a keyframe starts, so a new subscriber's
//!   decoder never sees a delta frame without its reference, and while it waits it keeps
//!   asking the publisher for one;
//! - keyframe requests reach the publisher at most once per [`KEYFRAME_REQUEST_INTERVAL`]
//!   per up-track, however many subscribers ask;
//! - a participant marked absent (an applicant in the lobby) sends nothing into the
//!   room and receives nothing from it; when they return, every affected down-track
//!   resumes at a keyframe with its numbering continuing where it stopped, so the
//!   subscriber sees a pause, not a jump.
//!
//! Simulcast: a video up-track may arrive in up to [`MAX_LAYERS`] layers (the same
//! camera at three resolutions, each its own RTP stream). Each down-track forwards one
//! of them: the highest available layer at or below what its subscriber prefers (else
//! the lowest above it). A layer is available once it has started a keyframe and while
//! its packets keep coming (a browser drops its top layers when its uplink or CPU is
//! short, and resumes them with a keyframe). A switch happens only at a keyframe of the
//! new layer, which is requested, and the numbering continues across it, as after a
//! pause; until then the old layer keeps flowing, so a switch never freezes the picture.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::codec::Vp8Ids;
use crate::ids::{DownTrackId, ParticipantId, UpTrackId};

/// Minimum spacing of keyframe requests sent to one publisher for one track. Browsers
/// answer every PLI with a full keyframe (10–50× a delta frame); a burst of new
/// subscribers must not turn into a burst of keyframes.
pub const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(500);

/// A simulcast layer: 0 is the lowest resolution. A track without simulcast has only
/// layer 0.
pub type Layer = u8;

/// Most simulcast layers a track can have (the SFU offers RIDs `q`, `h` and `f`).
pub const MAX_LAYERS: usize = 3;

/// The highest layer: what a subscriber gets unless they ask for less.
pub const TOP_LAYER: Layer = (MAX_LAYERS - 1) as Layer;

/// A layer that sent nothing for this long is taken as stopped. Browsers send a camera
/// layer at 7 frames/s or more, and pause a layer they drop for bandwidth or CPU.
pub const LAYER_TIMEOUT: Duration = Duration::from_millis(1_000);

/// What kind of media a track carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// Audio (Opus).
    Audio,
    /// Video (VP8 for now).
    Video,
}

/// What a participant may do with media, from their signed grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaGrant {
    /// May send tracks into the room.
    pub publish: bool,
    /// May receive other participants' tracks.
    pub subscribe: bool,
    /// Also receives its own tracks back (the set-up check's loopback through the
    /// SFU: what a browser sends comes back over the same path).
    pub echo: bool,
}

/// The facts about one incoming RTP packet that forwarding needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpMeta {
    /// Sequence number as sent by the publisher.
    pub sequence_number: u16,
    /// RTP timestamp as sent by the publisher.
    pub timestamp: u32,
    /// Whether this packet starts a keyframe (always true for audio).
    pub keyframe_start: bool,
    /// VP8's picture numbering, if the packet carries it (kept continuous across
    /// simulcast layer switches).
    pub vp8: Vp8Ids,
}

/// One packet to send on one down-track, with its rewritten header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    /// The subscriber that receives it.
    pub subscriber: ParticipantId,
    /// The down-track it goes out on.
    pub down_track: DownTrackId,
    /// Sequence number in the down-track's own, gap-preserving numbering.
    pub sequence_number: u16,
    /// Timestamp in the down-track's own timeline.
    pub timestamp: u32,
    /// VP8 picture numbering for the down-track: the packet's own unless a layer
    /// switch made it continue another layer's (then the payload must be rewritten).
    pub vp8: Vp8Ids,
}

/// Something the transport adapter must do because the room changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create a sending track on the subscriber's connection (renegotiation follows).
    AddDownTrack {
        /// Who receives.
        subscriber: ParticipantId,
        /// The new down-track.
        down_track: DownTrackId,
        /// The up-track it carries.
        up_track: UpTrackId,
        /// Who publishes the up-track.
        publisher: ParticipantId,
        /// Audio or video.
        kind: MediaKind,
    },
    /// Remove a sending track from the subscriber's connection.
    RemoveDownTrack {
        /// Who received.
        subscriber: ParticipantId,
        /// The down-track to remove.
        down_track: DownTrackId,
    },
    /// Ask the publisher for a keyframe on this up-track (PLI).
    RequestKeyframe {
        /// Who publishes.
        publisher: ParticipantId,
        /// Which of their tracks.
        up_track: UpTrackId,
        /// Which simulcast layer (0 for a track without simulcast).
        layer: Layer,
    },
}

/// Why the forwarder refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForwardError {
    /// The participant is not in this room.
    #[error("participant {0} is not in the room")]
    UnknownParticipant(ParticipantId),
    /// The participant is already in this room.
    #[error("participant {0} is already in the room")]
    AlreadyJoined(ParticipantId),
    /// The participant's grant does not allow publishing.
    #[error("participant {0} may not publish")]
    PublishNotAllowed(ParticipantId),
    /// The participant's grant does not allow subscribing.
    #[error("participant {0} may not subscribe")]
    SubscribeNotAllowed(ParticipantId),
    /// No such up-track.
    #[error("unknown up-track {0}")]
    UnknownUpTrack(UpTrackId),
    /// A simulcast layer count of 0 or above [`MAX_LAYERS`].
    #[error("a track has 1 to {MAX_LAYERS} layers, not {0}")]
    LayerCount(u8),
    /// A participant asked for their own track.
    #[error("participant {0} cannot subscribe to their own track")]
    OwnTrack(ParticipantId),
    /// The subscription exists already.
    #[error("participant {0} already receives up-track {1}")]
    AlreadySubscribed(ParticipantId, UpTrackId),
}

#[derive(Debug)]
struct Participant {
    grant: MediaGrant,
    present: bool,
    up_tracks: Vec<UpTrackId>,
    down_tracks: Vec<DownTrackId>,
    /// The highest layer its link carries (see [`Forwarder::set_layer_ceiling`]).
    layer_ceiling: Layer,
}

#[derive(Debug)]
struct UpTrack {
    publisher: ParticipantId,
    kind: MediaKind,
    /// Held back by the room's policy (muted, screen sharing not allowed, a trainee not
    /// promoted): nothing of it is forwarded.
    blocked: bool,
    down_tracks: Vec<DownTrackId>,
    layers: Layers,
    /// Per layer.
    last_keyframe_request: [Option<Instant>; MAX_LAYERS],
    /// Which layer a recording of this track keeps, and its continuous numbering.
    recording: Cursor,
}

#[derive(Debug)]
struct DownTrack {
    subscriber: ParticipantId,
    up_track: UpTrackId,
    bound: bool,
    cursor: Cursor,
}

/// What has arrived of each layer of one up-track.
#[derive(Debug, Clone, Copy)]
struct Layers {
    count: u8,
    state: [LayerState; MAX_LAYERS],
}

#[derive(Debug, Clone, Copy, Default)]
struct LayerState {
    last_packet: Option<Instant>,
    /// A keyframe started since the layer last (re)started.
    keyframe_seen: bool,
}

impl Layers {
    fn new(count: u8) -> Self {
        Self {
            count,
            state: [LayerState::default(); MAX_LAYERS],
        }
    }

    fn on_packet(&mut self, now: Instant, layer: Layer, keyframe_start: bool) {
        let Some(state) = self.state.get_mut(usize::from(layer)) else {
            return;
        };
        let stopped = state
            .last_packet
            .is_none_or(|at| now.saturating_duration_since(at) >= LAYER_TIMEOUT);
        if stopped {
            state.keyframe_seen = false;
        }
        state.keyframe_seen |= keyframe_start;
        state.last_packet = Some(now);
    }

    fn available(&self, now: Instant, layer: Layer) -> bool {
        self.state.get(usize::from(layer)).is_some_and(|s| {
            s.keyframe_seen
                && s.last_packet
                    .is_some_and(|at| now.saturating_duration_since(at) < LAYER_TIMEOUT)
        })
    }

    /// The layer to forward to someone who prefers `preferred`: the highest available
    /// at or below it, else the lowest available above it. A track without simulcast
    /// always has its one layer.
    fn choose(&self, now: Instant, preferred: Layer) -> Option<Layer> {
        if self.count <= 1 {
            return Some(0);
        }
        let top = preferred.min(self.count - 1);
        (0..=top)
            .rev()
            .find(|l| self.available(now, *l))
            .or_else(|| (top + 1..self.count).find(|l| self.available(now, *l)))
    }
}

/// One receiver's position in an up-track: the layer it gets and that layer's
/// rewritten numbering. Down-tracks have one; so has the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    /// The layer the receiver would like (capped by what arrives).
    preferred: Layer,
    /// The highest layer the receiver's link carries, whatever it would like.
    ceiling: Layer,
    /// The layer being forwarded; `None` until a layered track's first switch.
    current: Option<Layer>,
    munger: Munger,
}

impl Cursor {
    fn new(kind: MediaKind, layers: &Layers) -> Self {
        let layered = layers.count > 1;
        Self {
            preferred: TOP_LAYER,
            ceiling: TOP_LAYER,
            current: (!layered).then_some(0),
            munger: Munger::new(kind, layered),
        }
    }

    /// The layer to aim for: the preference, under the link's ceiling.
    fn wanted(&self) -> Layer {
        self.preferred.min(self.ceiling)
    }

    /// Where one packet of `layer` goes for this receiver: its rewritten (sequence,
    /// timestamp) if it is forwarded, and a layer that needs a keyframe (to start, to
    /// resume or to switch to), if any.
    fn route(
        &mut self,
        now: Instant,
        layers: &Layers,
        layer: Layer,
        meta: &RtpMeta,
        seq_base: u16,
        ts_base: u32,
    ) -> (Option<(u16, u32, Vp8Ids)>, Option<Layer>) {
        let desired = layers.choose(now, self.wanted());
        let mut wants_keyframe = match desired {
            Some(d) => (Some(d) != self.current).then_some(d),
            // No layer has started a keyframe since it (re)started (after a link cut,
            // say): the one that is sending is asked for one.
            None => Some(layer),
        };
        if desired == Some(layer) && self.current != Some(layer) && meta.keyframe_start {
            // The switch: the new layer's keyframe re-anchors the numbering right
            // after the last packet of the old one, as after a pause.
            if self.current.is_some() {
                self.munger.pause();
            }
            self.current = Some(layer);
            wants_keyframe = None;
        }
        if self.current != Some(layer) {
            return (None, wants_keyframe);
        }
        let out = self.munger.rewrite(now, meta, seq_base, ts_base);
        if out.is_none() && self.munger.waiting() {
            wants_keyframe = Some(layer);
        }
        (out, wants_keyframe)
    }
}

/// Rewrites sequence numbers and timestamps for one down-track.
///
/// The down-track starts at the first forwardable packet (for video: the first packet
/// of a keyframe). From then on the output keeps the input's gaps, so the subscriber
/// sees real loss and can NACK it, and packets older than the start are dropped because
/// the subscriber has no context for them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Munger {
    kind: MediaKind,
    needs_keyframe: bool,
    state: Option<MungerState>,
    /// The last packet sent (sequence, timestamp, when), to continue from after a pause.
    last_out: Option<(u16, u32, Instant)>,
    /// Paused: the next forwarded packet (a keyframe for video) re-anchors the mapping.
    paused: bool,
    /// Keep VP8 picture numbering continuous across re-anchoring (a simulcast track,
    /// whose layers each number their own pictures).
    continue_vp8_ids: bool,
    /// The VP8 ids of the last packet sent.
    last_ids: Vp8Ids,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MungerState {
    first_in_seq: u16,
    seq_offset: u16,
    ts_offset: u32,
    highest_in_seq: u16,
    picture_id_offset: u16,
    tl0_offset: u8,
}

impl Munger {
    fn new(kind: MediaKind, continue_vp8_ids: bool) -> Self {
        Self {
            kind,
            needs_keyframe: kind == MediaKind::Video,
            state: None,
            last_out: None,
            paused: false,
            continue_vp8_ids,
            last_ids: Vp8Ids::default(),
        }
    }

    /// Whether the down-track is waiting to (re)start.
    fn waiting(&self) -> bool {
        self.state.is_none() || self.paused
    }

    fn pause(&mut self) {
        self.paused = true;
    }

    fn clock_rate(&self) -> u64 {
        match self.kind {
            MediaKind::Audio => 48_000,
            MediaKind::Video => 90_000,
        }
    }

    /// Returns the rewritten (sequence, timestamp, VP8 ids), or `None` to drop the
    /// packet.
    fn rewrite(
        &mut self,
        now: Instant,
        meta: &RtpMeta,
        seq_base: u16,
        ts_base: u32,
    ) -> Option<(u16, u32, Vp8Ids)> {
        if self.waiting() {
            if self.needs_keyframe && !meta.keyframe_start {
                return None;
            }
            // After a pause, continue right after the last packet sent, with the
            // timestamp advanced by the time that passed; at the very start, use the base.
            let (seq_next, ts_next) = match (self.paused, self.last_out) {
                (true, Some((seq, ts, at))) => {
                    let ticks = now.saturating_duration_since(at).as_micros() as u64
                        * self.clock_rate()
                        / 1_000_000;
                    (seq.wrapping_add(1), ts.wrapping_add(ticks.max(1) as u32))
                }
                _ => (seq_base, ts_base),
            };
            // The next picture after the last one sent, when numbering continues.
            let (mut picture_id_offset, mut tl0_offset) = (0, 0);
            if self.continue_vp8_ids && self.last_out.is_some() {
                if let (Some((last, _)), Some((first, _))) =
                    (self.last_ids.picture_id, meta.vp8.picture_id)
                {
                    picture_id_offset = last.wrapping_add(1).wrapping_sub(first);
                }
                if let (Some(last), Some(first)) = (self.last_ids.tl0_pic_idx, meta.vp8.tl0_pic_idx)
                {
                    tl0_offset = last.wrapping_add(1).wrapping_sub(first);
                }
            }
            self.paused = false;
            self.state = Some(MungerState {
                first_in_seq: meta.sequence_number,
                seq_offset: seq_next.wrapping_sub(meta.sequence_number),
                ts_offset: ts_next.wrapping_sub(meta.timestamp),
                highest_in_seq: meta.sequence_number,
                picture_id_offset,
                tl0_offset,
            });
        }
        let state = self.state.as_mut()?;
        let since_start = meta.sequence_number.wrapping_sub(state.first_in_seq);
        if since_start >= 0x8000 {
            // Older than the packet this down-track started with.
            return None;
        }
        let ids = Vp8Ids {
            picture_id: meta.vp8.picture_id.map(|(id, long)| {
                let mask = if long { 0x7fff } else { 0x7f };
                (id.wrapping_add(state.picture_id_offset) & mask, long)
            }),
            tl0_pic_idx: meta
                .vp8
                .tl0_pic_idx
                .map(|i| i.wrapping_add(state.tl0_offset)),
        };
        let out = (
            meta.sequence_number.wrapping_add(state.seq_offset),
            meta.timestamp.wrapping_add(state.ts_offset),
            ids,
        );
        if meta.sequence_number.wrapping_sub(state.highest_in_seq) < 0x8000 {
            state.highest_in_seq = meta.sequence_number;
            self.last_out = Some((out.0, out.1, now));
            // A packet without a VP8 descriptor (padding) leaves the numbering where
            // the last picture put it: a switch continues from there.
            if ids.picture_id.is_some() {
                self.last_ids.picture_id = ids.picture_id;
            }
            if ids.tl0_pic_idx.is_some() {
                self.last_ids.tl0_pic_idx = ids.tl0_pic_idx;
            }
        }
        Some(out)
    }
}

/// One room's forwarding state.
#[derive(Debug, Default)]
pub struct Forwarder {
    participants: HashMap<ParticipantId, Participant>,
    up_tracks: HashMap<UpTrackId, UpTrack>,
    down_tracks: HashMap<DownTrackId, DownTrack>,
    /// Up-tracks in publication order, so that a late joiner's subscriptions (and the
    /// renegotiation they cause) come out in a stable order.
    up_track_order: Vec<UpTrackId>,
    next_up_track: u64,
    next_down_track: u64,
}

impl Forwarder {
    /// An empty room.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nobody is in the room.
    pub fn is_empty(&self) -> bool {
        self.participants.is_empty()
    }

    /// Number of participants.
    pub fn participant_count(&self) -> usize {
        self.participants.len()
    }

    /// The publisher and kind of an up-track.
    pub fn up_track(&self, id: UpTrackId) -> Option<(ParticipantId, MediaKind)> {
        self.up_tracks.get(&id).map(|t| (t.publisher, t.kind))
    }

    /// The subscriber and source up-track of a down-track.
    pub fn down_track(&self, id: DownTrackId) -> Option<(ParticipantId, UpTrackId)> {
        self.down_tracks
            .get(&id)
            .map(|t| (t.subscriber, t.up_track))
    }

    /// Adds a participant. If they may subscribe, they are subscribed to every
    /// track already published in the room.
    pub fn join(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        grant: MediaGrant,
    ) -> Result<Vec<Action>, ForwardError> {
        if self.participants.contains_key(&participant) {
            return Err(ForwardError::AlreadyJoined(participant));
        }
        self.participants.insert(
            participant,
            Participant {
                grant,
                present: true,
                up_tracks: Vec::new(),
                down_tracks: Vec::new(),
                layer_ceiling: TOP_LAYER,
            },
        );
        let mut actions = Vec::new();
        if grant.subscribe {
            for up in self.up_track_order.clone() {
                actions.extend(self.subscribe(now, participant, up)?.1);
            }
        }
        Ok(actions)
    }

    /// Registers a track the participant has started to send, and subscribes every
    /// other participant who may subscribe.
    pub fn publish(
        &mut self,
        now: Instant,
        publisher: ParticipantId,
        kind: MediaKind,
    ) -> Result<(UpTrackId, Vec<Action>), ForwardError> {
        self.publish_layered(now, publisher, kind, 1)
    }

    /// [`Forwarder::publish`] for a track sent in `layers` simulcast layers (1 for
    /// none).
    pub fn publish_layered(
        &mut self,
        now: Instant,
        publisher: ParticipantId,
        kind: MediaKind,
        layers: u8,
    ) -> Result<(UpTrackId, Vec<Action>), ForwardError> {
        if layers == 0 || usize::from(layers) > MAX_LAYERS {
            return Err(ForwardError::LayerCount(layers));
        }
        let layers = Layers::new(layers);
        let participant = self
            .participants
            .get_mut(&publisher)
            .ok_or(ForwardError::UnknownParticipant(publisher))?;
        if !participant.grant.publish {
            return Err(ForwardError::PublishNotAllowed(publisher));
        }
        self.next_up_track += 1;
        let id = UpTrackId(self.next_up_track);
        participant.up_tracks.push(id);
        self.up_tracks.insert(
            id,
            UpTrack {
                publisher,
                kind,
                blocked: false,
                down_tracks: Vec::new(),
                layers,
                last_keyframe_request: [None; MAX_LAYERS],
                recording: Cursor::new(kind, &layers),
            },
        );
        self.up_track_order.push(id);

        let mut subscribers: Vec<ParticipantId> = self
            .participants
            .iter()
            .filter(|(pid, p)| (**pid != publisher || p.grant.echo) && p.grant.subscribe)
            .map(|(pid, _)| *pid)
            .collect();
        subscribers.sort();
        let mut actions = Vec::new();
        for subscriber in subscribers {
            actions.extend(self.subscribe(now, subscriber, id)?.1);
        }
        Ok((id, actions))
    }

    /// Subscribes a participant to an up-track. The down-track forwards nothing until
    /// [`Forwarder::bind`] is called for it.
    pub fn subscribe(
        &mut self,
        now: Instant,
        subscriber: ParticipantId,
        up_track: UpTrackId,
    ) -> Result<(DownTrackId, Vec<Action>), ForwardError> {
        let participant = self
            .participants
            .get(&subscriber)
            .ok_or(ForwardError::UnknownParticipant(subscriber))?;
        if !participant.grant.subscribe {
            return Err(ForwardError::SubscribeNotAllowed(subscriber));
        }
        let up = self
            .up_tracks
            .get(&up_track)
            .ok_or(ForwardError::UnknownUpTrack(up_track))?;
        if up.publisher == subscriber && !participant.grant.echo {
            return Err(ForwardError::OwnTrack(subscriber));
        }
        if up
            .down_tracks
            .iter()
            .any(|d| self.down_tracks.get(d).map(|t| t.subscriber) == Some(subscriber))
        {
            return Err(ForwardError::AlreadySubscribed(subscriber, up_track));
        }
        let (publisher, kind) = (up.publisher, up.kind);
        let cursor = Cursor {
            ceiling: participant.layer_ceiling,
            ..Cursor::new(kind, &up.layers)
        };

        self.next_down_track += 1;
        let id = DownTrackId(self.next_down_track);
        self.down_tracks.insert(
            id,
            DownTrack {
                subscriber,
                up_track,
                bound: false,
                cursor,
            },
        );
        if let Some(up) = self.up_tracks.get_mut(&up_track) {
            up.down_tracks.push(id);
        }
        if let Some(p) = self.participants.get_mut(&subscriber) {
            p.down_tracks.push(id);
        }

        let _ = now;
        let actions = vec![Action::AddDownTrack {
            subscriber,
            down_track: id,
            up_track,
            publisher,
            kind,
        }];
        Ok((id, actions))
    }

    /// Marks a down-track ready: its subscriber has negotiated it and the connection is
    /// up. Forwarding starts (for video at the next keyframe, which is requested here).
    pub fn bind(&mut self, now: Instant, down_track: DownTrackId) -> Vec<Action> {
        let Some(down) = self.down_tracks.get_mut(&down_track) else {
            return Vec::new();
        };
        if down.bound {
            return Vec::new();
        }
        down.bound = true;
        let up_track = down.up_track;
        self.keyframe_requests(now, up_track)
    }

    /// Sets the simulcast layer a down-track's subscriber would like (clamped to
    /// [`TOP_LAYER`]). The switch happens at the new layer's next keyframe, which is
    /// requested; a track without simulcast is unaffected.
    pub fn set_preferred_layer(
        &mut self,
        now: Instant,
        down_track: DownTrackId,
        preferred: Layer,
    ) -> Option<Action> {
        let down = self.down_tracks.get_mut(&down_track)?;
        down.cursor.preferred = preferred.min(TOP_LAYER);
        let up = self.up_tracks.get(&down.up_track)?;
        let desired = up.layers.choose(now, down.cursor.wanted())?;
        if !down.bound || Some(desired) == down.cursor.current {
            return None;
        }
        let up_track = down.up_track;
        self.throttled_keyframe_request(now, up_track, desired)
    }

    /// Sets the highest simulcast layer a subscriber's link carries, for all its
    /// down-tracks and those it gets later; what it prefers applies below that. Each
    /// down-track that must change layer switches at that layer's next keyframe,
    /// which is requested. Tracks without simulcast are unaffected.
    pub fn set_layer_ceiling(
        &mut self,
        now: Instant,
        subscriber: ParticipantId,
        ceiling: Layer,
    ) -> Vec<Action> {
        let Some(participant) = self.participants.get_mut(&subscriber) else {
            return Vec::new();
        };
        participant.layer_ceiling = ceiling.min(TOP_LAYER);
        let mut switches = Vec::new();
        for id in &participant.down_tracks {
            let Some(down) = self.down_tracks.get_mut(id) else {
                continue;
            };
            down.cursor.ceiling = participant.layer_ceiling;
            let Some(up) = self.up_tracks.get(&down.up_track) else {
                continue;
            };
            if let Some(desired) = up.layers.choose(now, down.cursor.wanted())
                && down.bound
                && Some(desired) != down.cursor.current
            {
                switches.push((down.up_track, desired));
            }
        }
        switches
            .into_iter()
            .filter_map(|(up_track, layer)| self.throttled_keyframe_request(now, up_track, layer))
            .collect()
    }

    /// The layer a down-track forwards now (`None` before a layered track's first
    /// keyframe reached it).
    pub fn forwarded_layer(&self, down_track: DownTrackId) -> Option<Layer> {
        self.down_tracks.get(&down_track)?.cursor.current
    }

    /// Ends one subscription.
    pub fn unsubscribe(&mut self, down_track: DownTrackId) -> Vec<Action> {
        let Some(down) = self.down_tracks.remove(&down_track) else {
            return Vec::new();
        };
        if let Some(up) = self.up_tracks.get_mut(&down.up_track) {
            up.down_tracks.retain(|d| *d != down_track);
        }
        if let Some(p) = self.participants.get_mut(&down.subscriber) {
            p.down_tracks.retain(|d| *d != down_track);
        }
        vec![Action::RemoveDownTrack {
            subscriber: down.subscriber,
            down_track,
        }]
    }

    /// Stops an up-track: every subscriber loses its down-track.
    pub fn unpublish(&mut self, up_track: UpTrackId) -> Vec<Action> {
        let Some(up) = self.up_tracks.remove(&up_track) else {
            return Vec::new();
        };
        self.up_track_order.retain(|u| *u != up_track);
        if let Some(p) = self.participants.get_mut(&up.publisher) {
            p.up_tracks.retain(|u| *u != up_track);
        }
        let mut actions = Vec::new();
        for down_track in up.down_tracks {
            if let Some(down) = self.down_tracks.remove(&down_track) {
                if let Some(p) = self.participants.get_mut(&down.subscriber) {
                    p.down_tracks.retain(|d| *d != down_track);
                }
                actions.push(Action::RemoveDownTrack {
                    subscriber: down.subscriber,
                    down_track,
                });
            }
        }
        actions
    }

    /// Removes a participant: their up-tracks disappear from everyone else, their own
    /// down-tracks are dropped silently (their connection is going away).
    pub fn leave(&mut self, participant: ParticipantId) -> Vec<Action> {
        let Some(p) = self.participants.remove(&participant) else {
            return Vec::new();
        };
        for down_track in p.down_tracks {
            if let Some(down) = self.down_tracks.remove(&down_track)
                && let Some(up) = self.up_tracks.get_mut(&down.up_track)
            {
                up.down_tracks.retain(|d| *d != down_track);
            }
        }
        let mut actions = Vec::new();
        for up in p.up_tracks {
            actions.extend(self.unpublish(up));
        }
        actions
    }

    /// Whether packets of this up-track currently reach the room (its publisher is
    /// present and the room's policy does not hold it back): what a recording keeps.
    pub fn is_forwarding(&self, up_track: UpTrackId) -> bool {
        self.up_tracks.get(&up_track).is_some_and(|up| {
            !up.blocked
                && self
                    .participants
                    .get(&up.publisher)
                    .is_some_and(|p| p.present)
        })
    }

    /// A keyframe request for an up-track on behalf of someone outside the room (the
    /// recorder), throttled like subscribers' requests: one per layer.
    pub fn request_keyframe(&mut self, now: Instant, up_track: UpTrackId) -> Vec<Action> {
        self.keyframe_requests(now, up_track)
    }

    /// What a recording keeps of one packet of `layer`, which [`Forwarder::on_rtp`]
    /// has just seen: for a track without simulcast the packet as it is, for a layered
    /// one the top available layer with numbering continuous across layer switches
    /// (so a recording gets one stream). Also a keyframe request when the recording
    /// waits for a switch.
    pub fn record(
        &mut self,
        now: Instant,
        up_track: UpTrackId,
        layer: Layer,
        meta: &RtpMeta,
    ) -> (Option<(u16, u32)>, Option<Action>) {
        let Some(up) = self.up_tracks.get_mut(&up_track) else {
            return (None, None);
        };
        if up.layers.count <= 1 {
            return (Some((meta.sequence_number, meta.timestamp)), None);
        }
        let layers = up.layers;
        let (out, wants) = up.recording.route(now, &layers, layer, meta, 0, 0);
        let request = wants.and_then(|l| self.throttled_keyframe_request(now, up_track, l));
        (out.map(|(seq, ts, _)| (seq, ts)), request)
    }

    /// Decides where one incoming packet (of simulcast `layer`; 0 without simulcast)
    /// goes. `out` is cleared and filled, so the caller can reuse one buffer for every
    /// packet. Returns a keyframe request when a bound down-track waits for a keyframe
    /// to start, resume or switch layers (throttled).
    pub fn on_rtp(
        &mut self,
        now: Instant,
        up_track: UpTrackId,
        layer: Layer,
        meta: &RtpMeta,
        out: &mut Vec<Outgoing>,
    ) -> Option<Action> {
        out.clear();
        let up = self.up_tracks.get_mut(&up_track)?;
        up.layers.on_packet(now, layer, meta.keyframe_start);
        if up.blocked
            || !self
                .participants
                .get(&up.publisher)
                .is_some_and(|p| p.present)
        {
            return None;
        }
        // Layers some down-track waits for a keyframe of, as bits.
        let mut wanted: u8 = 0;
        for down_id in &up.down_tracks {
            let Some(down) = self.down_tracks.get_mut(down_id) else {
                continue;
            };
            if !down.bound
                || !self
                    .participants
                    .get(&down.subscriber)
                    .is_some_and(|p| p.present)
            {
                continue;
            }
            // Down-tracks start their own numbering at a base derived from their id:
            // deterministic for tests, distinct per down-track.
            let seq_base = (down_id.0 as u16).wrapping_mul(7919);
            let ts_base = (down_id.0 as u32).wrapping_mul(104_729);
            let (forwarded, wants_keyframe) = down
                .cursor
                .route(now, &up.layers, layer, meta, seq_base, ts_base);
            if let Some((sequence_number, timestamp, vp8)) = forwarded {
                out.push(Outgoing {
                    subscriber: down.subscriber,
                    down_track: *down_id,
                    sequence_number,
                    timestamp,
                    vp8,
                });
            }
            if let Some(l) = wants_keyframe {
                wanted |= 1 << l;
            }
        }
        (0..MAX_LAYERS as Layer)
            .filter(|l| wanted & (1 << l) != 0)
            .find_map(|l| self.throttled_keyframe_request(now, up_track, l))
    }

    /// Marks a participant absent (in the lobby) or present. Absent participants send
    /// nothing to the room and receive nothing from it. On return, the video they will
    /// receive and the video they publish are asked for keyframes.
    pub fn set_present(
        &mut self,
        now: Instant,
        participant: ParticipantId,
        present: bool,
    ) -> Result<Vec<Action>, ForwardError> {
        let p = self
            .participants
            .get_mut(&participant)
            .ok_or(ForwardError::UnknownParticipant(participant))?;
        if p.present == present {
            return Ok(Vec::new());
        }
        p.present = present;
        let own_down: Vec<DownTrackId> = p.down_tracks.clone();
        let own_up: Vec<UpTrackId> = p.up_tracks.clone();
        let mut affected: Vec<DownTrackId> = own_down;
        for up in &own_up {
            if let Some(u) = self.up_tracks.get(up) {
                affected.extend(u.down_tracks.iter().copied());
            }
        }
        Ok(self.pause_and_resume(now, &affected, present))
    }

    /// Blocks (nothing forwarded) or unblocks one up-track. Its subscribers resume
    /// with continuous numbering, video at a keyframe, which is requested.
    pub fn set_blocked(&mut self, now: Instant, up_track: UpTrackId, blocked: bool) -> Vec<Action> {
        let Some(up) = self.up_tracks.get_mut(&up_track) else {
            return Vec::new();
        };
        if up.blocked == blocked {
            return Vec::new();
        }
        up.blocked = blocked;
        let affected = up.down_tracks.clone();
        self.pause_and_resume(now, &affected, !blocked)
    }

    /// Pauses the given down-tracks; when `resume`, asks their sources for keyframes.
    fn pause_and_resume(
        &mut self,
        now: Instant,
        affected: &[DownTrackId],
        resume: bool,
    ) -> Vec<Action> {
        for d in affected {
            if let Some(down) = self.down_tracks.get_mut(d) {
                down.cursor.munger.pause();
            }
        }
        if !resume {
            return Vec::new();
        }
        let mut wanted: Vec<UpTrackId> = affected
            .iter()
            .filter_map(|d| {
                self.down_tracks
                    .get(d)
                    .filter(|d| d.bound)
                    .map(|d| d.up_track)
            })
            .collect();
        wanted.sort();
        wanted.dedup();
        wanted
            .into_iter()
            .flat_map(|up| self.keyframe_requests(now, up))
            .collect()
    }

    /// A subscriber asked for a keyframe (PLI/FIR) on a down-track: route it to the
    /// publisher, for the layer the subscriber gets, throttled.
    pub fn on_keyframe_request(&mut self, now: Instant, down_track: DownTrackId) -> Option<Action> {
        let down = self.down_tracks.get(&down_track)?;
        let up_track = down.up_track;
        let up = self.up_tracks.get(&up_track)?;
        // The layer the subscriber gets, if it is still sending; else the one it is to
        // get next.
        let layer = down
            .cursor
            .current
            .filter(|l| up.layers.count <= 1 || up.layers.available(now, *l))
            .or_else(|| up.layers.choose(now, down.cursor.wanted()))?;
        self.throttled_keyframe_request(now, up_track, layer)
    }

    /// Keyframe requests for every layer of an up-track, each throttled.
    fn keyframe_requests(&mut self, now: Instant, up_track: UpTrackId) -> Vec<Action> {
        let count = self.up_tracks.get(&up_track).map_or(0, |u| u.layers.count);
        (0..count)
            .filter_map(|l| self.throttled_keyframe_request(now, up_track, l))
            .collect()
    }

    fn throttled_keyframe_request(
        &mut self,
        now: Instant,
        up_track: UpTrackId,
        layer: Layer,
    ) -> Option<Action> {
        let up = self.up_tracks.get_mut(&up_track)?;
        if up.kind != MediaKind::Video || layer >= up.layers.count {
            return None;
        }
        let last = &mut up.last_keyframe_request[usize::from(layer)];
        if let Some(at) = *last
            && now.saturating_duration_since(at) < KEYFRAME_REQUEST_INTERVAL
        {
            return None;
        }
        *last = Some(now);
        Some(Action::RequestKeyframe {
            publisher: up.publisher,
            up_track,
            layer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: MediaGrant = MediaGrant {
        publish: true,
        subscribe: true,
        echo: false,
    };
    const WATCH_ONLY: MediaGrant = MediaGrant {
        publish: false,
        subscribe: true,
        echo: false,
    };
    const A: ParticipantId = ParticipantId(1);
    const B: ParticipantId = ParticipantId(2);
    const C: ParticipantId = ParticipantId(3);

    fn meta(seq: u16, ts: u32, key: bool) -> RtpMeta {
        RtpMeta {
            sequence_number: seq,
            timestamp: ts,
            keyframe_start: key,
            vp8: Vp8Ids::default(),
        }
    }

    /// Binds every down-track, as the adapter does once subscribers are connected.
    fn bind_all(f: &mut Forwarder, now: Instant) -> Vec<Action> {
        let ids: Vec<DownTrackId> = f.down_tracks.keys().copied().collect();
        ids.into_iter().flat_map(|d| f.bind(now, d)).collect()
    }

    fn added(actions: &[Action]) -> Vec<(ParticipantId, UpTrackId)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::AddDownTrack {
                    subscriber,
                    up_track,
                    ..
                } => Some((*subscriber, *up_track)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn publishing_subscribes_everyone_else_who_may_subscribe() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        f.join(t0, B, BOTH).unwrap();
        f.join(t0, C, WATCH_ONLY).unwrap();
        let (up, actions) = f.publish(t0, A, MediaKind::Audio).unwrap();
        assert_eq!(added(&actions), vec![(B, up), (C, up)]);
    }

    #[test]
    fn late_joiner_is_subscribed_to_existing_tracks_and_binding_requests_a_keyframe() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        let (audio, _) = f.publish(t0, A, MediaKind::Audio).unwrap();
        let (video, _) = f.publish(t0, A, MediaKind::Video).unwrap();
        let actions = f.join(t0, B, BOTH).unwrap();
        assert_eq!(added(&actions), vec![(B, audio), (B, video)]);
        assert!(
            !actions
                .iter()
                .any(|a| matches!(a, Action::RequestKeyframe { .. })),
            "no keyframe before the subscriber can receive it"
        );
        assert_eq!(
            bind_all(&mut f, t0),
            vec![Action::RequestKeyframe {
                publisher: A,
                up_track: video,
                layer: 0
            }],
            "binding asks for a keyframe, once per video track"
        );
    }

    #[test]
    fn participant_without_publish_grant_cannot_publish() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, C, WATCH_ONLY).unwrap();
        assert_eq!(
            f.publish(t0, C, MediaKind::Video).unwrap_err(),
            ForwardError::PublishNotAllowed(C)
        );
    }

    #[test]
    fn participant_without_subscribe_grant_receives_nothing() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        let publish_only = MediaGrant {
            publish: true,
            subscribe: false,
            echo: false,
        };
        f.join(t0, A, BOTH).unwrap();
        f.join(t0, B, publish_only).unwrap();
        let (up, actions) = f.publish(t0, A, MediaKind::Audio).unwrap();
        assert!(added(&actions).is_empty());
        assert_eq!(
            f.subscribe(t0, B, up).unwrap_err(),
            ForwardError::SubscribeNotAllowed(B)
        );
    }

    #[test]
    fn an_echo_participant_gets_its_own_tracks_back_and_nobody_elses_changes() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        let echo = MediaGrant { echo: true, ..BOTH };
        f.join(t0, A, echo).unwrap();
        let (up, actions) = f.publish(t0, A, MediaKind::Video).unwrap();
        let down = match actions[..] {
            [
                Action::AddDownTrack {
                    subscriber: A,
                    down_track,
                    ..
                },
            ] => down_track,
            _ => panic!("{actions:?}"),
        };
        f.bind(t0, down);
        let mut out = Vec::new();
        f.on_rtp(t0, up, 0, &meta(1, 0, true), &mut out);
        assert_eq!(out.len(), 1, "the loopback forwards");
        assert_eq!(out[0].subscriber, A);
    }

    #[test]
    fn nobody_receives_their_own_track_and_double_subscription_is_refused() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        f.join(t0, B, BOTH).unwrap();
        let (up, _) = f.publish(t0, A, MediaKind::Audio).unwrap();
        assert_eq!(
            f.subscribe(t0, A, up).unwrap_err(),
            ForwardError::OwnTrack(A)
        );
        assert_eq!(
            f.subscribe(t0, B, up).unwrap_err(),
            ForwardError::AlreadySubscribed(B, up)
        );
    }

    #[test]
    fn audio_is_forwarded_with_contiguous_rewritten_numbers() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        f.join(t0, B, BOTH).unwrap();
        let (up, _) = f.publish(t0, A, MediaKind::Audio).unwrap();
        bind_all(&mut f, t0);
        let mut out = Vec::new();
        let mut seen = Vec::new();
        // Input wraps around u16 and u32.
        for i in 0..5u16 {
            let seq = 65_534u16.wrapping_add(i);
            let ts = (u32::MAX - 960).wrapping_add(u32::from(i) * 960);
            f.on_rtp(t0, up, 0, &meta(seq, ts, false), &mut out);
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].subscriber, B);
            seen.push((out[0].sequence_number, out[0].timestamp));
        }
        for pair in seen.windows(2) {
            assert_eq!(pair[1].0, pair[0].0.wrapping_add(1));
            assert_eq!(pair[1].1, pair[0].1.wrapping_add(960));
        }
    }

    #[test]
    fn gaps_are_preserved_and_packets_before_the_start_are_dropped() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        f.join(t0, B, BOTH).unwrap();
        let (up, _) = f.publish(t0, A, MediaKind::Audio).unwrap();
        bind_all(&mut f, t0);
        let mut out = Vec::new();
        f.on_rtp(t0, up, 0, &meta(100, 0, false), &mut out);
        let first = out[0].sequence_number;
        f.on_rtp(t0, up, 0, &meta(103, 0, false), &mut out);
        assert_eq!(out[0].sequence_number, first.wrapping_add(3));
        // A late retransmission of 101 still maps into the gap.
        f.on_rtp(t0, up, 0, &meta(101, 0, false), &mut out);
        assert_eq!(out[0].sequence_number, first.wrapping_add(1));
        // 99 predates the down-track's start.
        f.on_rtp(t0, up, 0, &meta(99, 0, false), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn video_down_track_waits_for_a_keyframe() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        f.join(t0, B, BOTH).unwrap();
        let (up, _) = f.publish(t0, A, MediaKind::Video).unwrap();
        bind_all(&mut f, t0);
        let mut out = Vec::new();
        f.on_rtp(t0, up, 0, &meta(10, 3000, false), &mut out);
        assert!(out.is_empty(), "delta frame before any keyframe");
        f.on_rtp(t0, up, 0, &meta(11, 6000, true), &mut out);
        assert_eq!(out.len(), 1);
        f.on_rtp(t0, up, 0, &meta(12, 6000, false), &mut out);
        assert_eq!(out.len(), 1, "after the keyframe everything flows");
    }

    #[test]
    fn unsubscribe_stops_forwarding_to_that_subscriber_only() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        f.join(t0, B, BOTH).unwrap();
        f.join(t0, C, BOTH).unwrap();
        let (up, actions) = f.publish(t0, A, MediaKind::Audio).unwrap();
        let down_b = actions
            .iter()
            .find_map(|a| match a {
                Action::AddDownTrack {
                    subscriber: B,
                    down_track,
                    ..
                } => Some(*down_track),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            f.unsubscribe(down_b),
            vec![Action::RemoveDownTrack {
                subscriber: B,
                down_track: down_b
            }]
        );
        bind_all(&mut f, t0);
        let mut out = Vec::new();
        f.on_rtp(t0, up, 0, &meta(1, 0, false), &mut out);
        assert_eq!(
            out.iter().map(|o| o.subscriber).collect::<Vec<_>>(),
            vec![C]
        );
        assert!(
            f.unsubscribe(down_b).is_empty(),
            "second unsubscribe is a no-op"
        );
    }

    #[test]
    fn leaving_removes_the_leavers_tracks_from_everyone() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        f.join(t0, B, BOTH).unwrap();
        f.join(t0, C, BOTH).unwrap();
        let (a_up, _) = f.publish(t0, A, MediaKind::Video).unwrap();
        let (b_up, _) = f.publish(t0, B, MediaKind::Video).unwrap();
        let actions = f.leave(A);
        let removed: Vec<ParticipantId> = actions
            .iter()
            .filter_map(|a| match a {
                Action::RemoveDownTrack { subscriber, .. } => Some(*subscriber),
                _ => None,
            })
            .collect();
        assert_eq!(removed.len(), 2);
        assert!(removed.contains(&B) && removed.contains(&C));
        assert!(f.up_track(a_up).is_none());
        // B's track now reaches only C, and nothing is sent to the departed A.
        bind_all(&mut f, t0);
        let mut out = Vec::new();
        f.on_rtp(t0, b_up, 0, &meta(1, 0, true), &mut out);
        assert_eq!(
            out.iter().map(|o| o.subscriber).collect::<Vec<_>>(),
            vec![C]
        );
        assert_eq!(f.participant_count(), 2);
        assert!(f.leave(A).is_empty());
    }

    #[test]
    fn keyframe_request_is_routed_to_the_publisher_and_throttled() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        let (up, _) = f.publish(t0, A, MediaKind::Video).unwrap();
        // Binding B's subscription requests a keyframe at t0.
        let actions = f.join(t0, B, BOTH).unwrap();
        let down = actions
            .iter()
            .find_map(|a| match a {
                Action::AddDownTrack { down_track, .. } => Some(*down_track),
                _ => None,
            })
            .unwrap();
        let expected = Action::RequestKeyframe {
            publisher: A,
            up_track: up,
            layer: 0,
        };
        assert_eq!(f.bind(t0, down), vec![expected.clone()]);
        assert_eq!(f.bind(t0, down), vec![], "binding twice is a no-op");
        // A PLI from B 100 ms later is absorbed by the throttle ...
        assert_eq!(
            f.on_keyframe_request(t0 + Duration::from_millis(100), down),
            None
        );
        // ... and passes once the interval is over.
        assert_eq!(
            f.on_keyframe_request(t0 + KEYFRAME_REQUEST_INTERVAL, down),
            Some(expected)
        );
    }

    #[test]
    fn keyframe_requests_for_audio_or_unknown_tracks_go_nowhere() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        f.join(t0, B, BOTH).unwrap();
        let (_, actions) = f.publish(t0, A, MediaKind::Audio).unwrap();
        let down = actions
            .iter()
            .find_map(|a| match a {
                Action::AddDownTrack { down_track, .. } => Some(*down_track),
                _ => None,
            })
            .unwrap();
        assert_eq!(f.on_keyframe_request(t0, down), None);
        assert_eq!(f.on_keyframe_request(t0, DownTrackId(999)), None);
    }

    #[test]
    fn joining_twice_is_refused() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, A, BOTH).unwrap();
        assert_eq!(
            f.join(t0, A, BOTH).unwrap_err(),
            ForwardError::AlreadyJoined(A)
        );
    }
}

#[cfg(test)]
mod binding_tests {
    use super::*;

    const BOTH: MediaGrant = MediaGrant {
        publish: true,
        subscribe: true,
        echo: false,
    };

    fn meta(seq: u16, key: bool) -> RtpMeta {
        RtpMeta {
            sequence_number: seq,
            timestamp: u32::from(seq) * 3000,
            keyframe_start: key,
            vp8: Vp8Ids::default(),
        }
    }

    #[test]
    fn unbound_down_tracks_receive_nothing() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, ParticipantId(1), BOTH).unwrap();
        f.join(t0, ParticipantId(2), BOTH).unwrap();
        let (up, actions) = f.publish(t0, ParticipantId(1), MediaKind::Audio).unwrap();
        let mut out = Vec::new();
        f.on_rtp(t0, up, 0, &meta(1, true), &mut out);
        assert!(out.is_empty());
        let Action::AddDownTrack { down_track, .. } = actions[0] else {
            panic!("expected a down-track");
        };
        assert_eq!(f.bind(t0, down_track), vec![], "audio needs no keyframe");
        f.on_rtp(t0, up, 0, &meta(2, false), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn a_bound_video_down_track_keeps_asking_for_a_keyframe_until_one_comes() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        let (a, b) = (ParticipantId(1), ParticipantId(2));
        f.join(t0, a, BOTH).unwrap();
        f.join(t0, b, BOTH).unwrap();
        let (up, actions) = f.publish(t0, a, MediaKind::Video).unwrap();
        let Action::AddDownTrack { down_track, .. } = actions[0] else {
            panic!("expected a down-track");
        };
        let request = Some(Action::RequestKeyframe {
            publisher: a,
            up_track: up,
            layer: 0,
        });
        assert_eq!(
            f.bind(t0, down_track),
            request.clone().into_iter().collect::<Vec<_>>()
        );
        let mut out = Vec::new();
        // The keyframe that answered the request was lost: deltas keep coming.
        assert_eq!(
            f.on_rtp(
                t0 + Duration::from_millis(100),
                up,
                0,
                &meta(1, false),
                &mut out
            ),
            None,
            "throttled"
        );
        assert_eq!(
            f.on_rtp(
                t0 + KEYFRAME_REQUEST_INTERVAL,
                up,
                0,
                &meta(2, false),
                &mut out
            ),
            request,
            "asks again once the interval has passed"
        );
        assert!(out.is_empty());
        // A keyframe arrives: forwarding starts and the requests stop.
        let later = t0 + 10 * KEYFRAME_REQUEST_INTERVAL;
        assert_eq!(f.on_rtp(later, up, 0, &meta(3, true), &mut out), None);
        assert_eq!(out.len(), 1);
        assert_eq!(
            f.on_rtp(
                later + KEYFRAME_REQUEST_INTERVAL,
                up,
                0,
                &meta(4, false),
                &mut out
            ),
            None
        );
    }
}

#[cfg(test)]
mod presence_tests {
    use super::*;

    const BOTH: MediaGrant = MediaGrant {
        publish: true,
        subscribe: true,
        echo: false,
    };
    const PANEL: ParticipantId = ParticipantId(1);
    const APPLICANT: ParticipantId = ParticipantId(2);
    const OTHER: ParticipantId = ParticipantId(3);

    fn meta(seq: u16, ts: u32, key: bool) -> RtpMeta {
        RtpMeta {
            sequence_number: seq,
            timestamp: ts,
            keyframe_start: key,
            vp8: Vp8Ids::default(),
        }
    }

    fn room(t0: Instant) -> (Forwarder, UpTrackId, UpTrackId) {
        let mut f = Forwarder::new();
        for p in [PANEL, APPLICANT, OTHER] {
            f.join(t0, p, BOTH).unwrap();
        }
        let (panel_video, _) = f.publish(t0, PANEL, MediaKind::Video).unwrap();
        let (applicant_audio, _) = f.publish(t0, APPLICANT, MediaKind::Audio).unwrap();
        let downs: Vec<DownTrackId> = f.down_tracks.keys().copied().collect();
        for d in downs {
            f.bind(t0, d);
        }
        (f, panel_video, applicant_audio)
    }

    fn receivers(out: &[Outgoing]) -> Vec<ParticipantId> {
        let mut r: Vec<ParticipantId> = out.iter().map(|o| o.subscriber).collect();
        r.sort();
        r
    }

    #[test]
    fn an_absent_participant_neither_sends_nor_receives() {
        let t0 = Instant::now();
        let (mut f, panel_video, applicant_audio) = room(t0);
        let mut out = Vec::new();
        f.on_rtp(t0, panel_video, 0, &meta(1, 0, true), &mut out);
        assert_eq!(receivers(&out), vec![APPLICANT, OTHER]);

        assert!(f.set_present(t0, APPLICANT, false).unwrap().is_empty());
        f.on_rtp(t0, panel_video, 0, &meta(2, 3000, false), &mut out);
        assert_eq!(receivers(&out), vec![OTHER], "the lobby receives nothing");
        f.on_rtp(t0, applicant_audio, 0, &meta(1, 0, false), &mut out);
        assert!(out.is_empty(), "nothing from the lobby reaches the room");
        assert_eq!(
            f.set_present(t0, ParticipantId(99), false).unwrap_err(),
            ForwardError::UnknownParticipant(ParticipantId(99))
        );
    }

    #[test]
    fn returning_resumes_at_a_keyframe_with_continuous_numbering() {
        let t0 = Instant::now();
        let (mut f, panel_video, _) = room(t0);
        let mut out = Vec::new();
        f.on_rtp(t0, panel_video, 0, &meta(100, 9000, true), &mut out);
        f.on_rtp(t0, panel_video, 0, &meta(101, 9000, false), &mut out);
        let last = out
            .iter()
            .find(|o| o.subscriber == APPLICANT)
            .copied()
            .unwrap();

        f.set_present(t0, APPLICANT, false).unwrap();
        for seq in 102..200 {
            f.on_rtp(
                t0,
                panel_video,
                0,
                &meta(seq, 9000 + u32::from(seq) * 30, false),
                &mut out,
            );
        }
        let back = t0 + Duration::from_secs(2);
        let requests = f.set_present(back, APPLICANT, true).unwrap();
        assert_eq!(
            requests,
            vec![Action::RequestKeyframe {
                publisher: PANEL,
                up_track: panel_video,
                layer: 0
            }],
            "the returning applicant needs a keyframe of the panel's video"
        );
        f.on_rtp(back, panel_video, 0, &meta(200, 20_000, false), &mut out);
        assert!(
            !receivers(&out).contains(&APPLICANT),
            "waits for a keyframe"
        );
        f.on_rtp(back, panel_video, 0, &meta(201, 21_000, true), &mut out);
        let resumed = out
            .iter()
            .find(|o| o.subscriber == APPLICANT)
            .copied()
            .unwrap();
        assert_eq!(
            resumed.sequence_number,
            last.sequence_number.wrapping_add(1),
            "no jump in sequence numbers"
        );
        let advanced = resumed.timestamp.wrapping_sub(last.timestamp);
        assert!(
            (179_000..=181_000).contains(&advanced),
            "timestamp advanced by ~2 s of 90 kHz: {advanced}"
        );
        f.on_rtp(back, panel_video, 0, &meta(202, 21_000, false), &mut out);
        let next = out
            .iter()
            .find(|o| o.subscriber == APPLICANT)
            .copied()
            .unwrap();
        assert_eq!(
            next.sequence_number,
            resumed.sequence_number.wrapping_add(1)
        );
    }

    #[test]
    fn marking_twice_changes_nothing() {
        let t0 = Instant::now();
        let (mut f, _, _) = room(t0);
        assert!(f.set_present(t0, APPLICANT, true).unwrap().is_empty());
        f.set_present(t0, APPLICANT, false).unwrap();
        assert!(f.set_present(t0, APPLICANT, false).unwrap().is_empty());
    }

    #[test]
    fn a_blocked_track_reaches_nobody_and_resumes_at_a_keyframe() {
        let t0 = Instant::now();
        let (mut f, panel_video, applicant_audio) = room(t0);
        let mut out = Vec::new();
        f.on_rtp(t0, panel_video, 0, &meta(1, 0, true), &mut out);
        let before = out.iter().find(|o| o.subscriber == OTHER).copied().unwrap();

        assert!(f.set_blocked(t0, panel_video, true).is_empty());
        assert!(
            f.set_blocked(t0, panel_video, true).is_empty(),
            "idempotent"
        );
        f.on_rtp(t0, panel_video, 0, &meta(2, 3000, true), &mut out);
        assert!(out.is_empty(), "a blocked track is forwarded to nobody");
        f.on_rtp(t0, applicant_audio, 0, &meta(1, 0, false), &mut out);
        assert_eq!(receivers(&out), vec![PANEL, OTHER], "other tracks flow");

        let later = t0 + Duration::from_secs(1);
        assert_eq!(
            f.set_blocked(later, panel_video, false),
            vec![Action::RequestKeyframe {
                publisher: PANEL,
                up_track: panel_video,
                layer: 0
            }]
        );
        f.on_rtp(later, panel_video, 0, &meta(50, 90_000, false), &mut out);
        assert!(out.is_empty(), "video resumes only at a keyframe");
        f.on_rtp(later, panel_video, 0, &meta(51, 90_000, true), &mut out);
        let after = out.iter().find(|o| o.subscriber == OTHER).copied().unwrap();
        assert_eq!(
            after.sequence_number,
            before.sequence_number.wrapping_add(1)
        );
        assert!(f.set_blocked(later, UpTrackId(999), true).is_empty());
    }
}

#[cfg(test)]
mod simulcast_tests {
    use super::*;
    use crate::codec::Vp8Ids;

    const BOTH: MediaGrant = MediaGrant {
        publish: true,
        subscribe: true,
        echo: false,
    };
    const PUBLISHER: ParticipantId = ParticipantId(1);
    const VIEWER: ParticipantId = ParticipantId(2);
    const FRAME: Duration = Duration::from_millis(33);

    /// A publisher sending three layers, each its own sequence and timestamp space,
    /// and one bound viewer.
    struct Room {
        f: Forwarder,
        up: UpTrackId,
        down: DownTrackId,
        now: Instant,
        seq: [u16; MAX_LAYERS],
        out: Vec<Outgoing>,
    }

    impl Room {
        fn new() -> Self {
            Self::with(|_, _| {})
        }

        /// [`Room::new`], with `before` done to the room after both have joined and
        /// before the publisher publishes.
        fn with(before: impl FnOnce(&mut Forwarder, Instant)) -> Self {
            let now = Instant::now();
            let mut f = Forwarder::new();
            f.join(now, PUBLISHER, BOTH).unwrap();
            f.join(now, VIEWER, BOTH).unwrap();
            before(&mut f, now);
            let (up, actions) = f
                .publish_layered(now, PUBLISHER, MediaKind::Video, 3)
                .unwrap();
            let down = match actions[..] {
                [Action::AddDownTrack { down_track, .. }] => down_track,
                _ => panic!("{actions:?}"),
            };
            let requests = f.bind(now, down);
            assert_eq!(requests.len(), 3, "binding asks every layer for a keyframe");
            Self {
                f,
                up,
                down,
                now,
                seq: [100, 20_000, 40_000],
                out: Vec::new(),
            }
        }

        /// One packet of `layer`; returns the sequence number the viewer got, if any,
        /// and any keyframe request.
        fn send(&mut self, layer: Layer, keyframe: bool) -> (Option<u16>, Option<Action>) {
            let request = self.send_vp8(layer, keyframe, Vp8Ids::default());
            (self.out.first().map(|o| o.sequence_number), request)
        }

        /// One packet of `layer` carrying VP8 numbering `vp8`; what the viewer got is
        /// in `out`. Returns any keyframe request.
        fn send_vp8(&mut self, layer: Layer, keyframe: bool, vp8: Vp8Ids) -> Option<Action> {
            let l = usize::from(layer);
            self.seq[l] = self.seq[l].wrapping_add(1);
            let meta = RtpMeta {
                sequence_number: self.seq[l],
                timestamp: u32::from(self.seq[l]) * 3000 + 7_000_000 * layer as u32,
                keyframe_start: keyframe,
                vp8,
            };
            self.f
                .on_rtp(self.now, self.up, layer, &meta, &mut self.out)
        }

        /// The VP8 numbering the viewer got from the last packet, if it got it.
        fn viewer_vp8(&self) -> Option<Vp8Ids> {
            self.out.first().map(|o| o.vp8)
        }

        /// One frame time passes with a packet on each of `layers`.
        fn frame(&mut self, layers: &[Layer], keyframe: bool) -> Vec<(Layer, u16)> {
            self.now += FRAME;
            layers
                .iter()
                .filter_map(|l| self.send(*l, keyframe).0.map(|s| (*l, s)))
                .collect()
        }
    }

    #[test]
    fn a_viewer_gets_the_top_layer_and_nothing_of_the_others() {
        let mut r = Room::new();
        assert_eq!(r.frame(&[0, 1, 2], false), vec![], "no keyframe yet");
        // Each layer's first keyframe makes it available as it comes, so the start
        // climbs to the top within the frame, numbering continuous.
        let got = r.frame(&[0, 1, 2], true);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(got[2].1, got[0].1.wrapping_add(2));
        let got = r.frame(&[0, 1, 2], false);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![2]);
        assert_eq!(r.f.forwarded_layer(r.down), Some(2));
    }

    #[test]
    fn a_lower_preference_switches_at_that_layers_keyframe_with_continuous_numbering() {
        let mut r = Room::new();
        r.frame(&[0, 1, 2], true);
        let last = r.frame(&[0, 1, 2], false)[0].1;
        r.now += KEYFRAME_REQUEST_INTERVAL;
        assert_eq!(
            r.f.set_preferred_layer(r.now, r.down, 0),
            Some(Action::RequestKeyframe {
                publisher: PUBLISHER,
                up_track: r.up,
                layer: 0
            })
        );
        // Until layer 0's keyframe the top layer keeps flowing.
        let got = r.frame(&[0, 1, 2], false);
        assert_eq!(got, vec![(2, last.wrapping_add(1))]);
        let got = r.frame(&[0, 1, 2], true);
        assert_eq!(
            got,
            vec![(0, last.wrapping_add(2))],
            "switched, numbering continues"
        );
        assert_eq!(r.f.forwarded_layer(r.down), Some(0));
        let got = r.frame(&[0, 1, 2], false);
        assert_eq!(got, vec![(0, last.wrapping_add(3))]);
    }

    #[test]
    fn a_layer_that_stops_is_replaced_by_the_next_below_and_taken_up_when_it_returns() {
        let mut r = Room::new();
        r.frame(&[0, 1, 2], true);
        r.frame(&[0, 1, 2], false);
        // The browser drops its top layer (its uplink got short).
        let frames = (LAYER_TIMEOUT.as_millis() / FRAME.as_millis()) as usize + 1;
        let mut requested = Vec::new();
        for _ in 0..frames {
            r.now += FRAME;
            for l in [0, 1] {
                if let (_, Some(Action::RequestKeyframe { layer, .. })) = r.send(l, false) {
                    requested.push(layer);
                }
            }
        }
        assert_eq!(
            requested,
            vec![1],
            "asks layer 1 for a keyframe once it is needed"
        );
        assert_eq!(
            r.f.forwarded_layer(r.down),
            Some(2),
            "no switch before a keyframe"
        );
        let got = r.frame(&[0, 1], true);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1]);
        // The top layer comes back, starting with a keyframe as browsers do.
        let got = r.frame(&[0, 1, 2], true);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(r.f.forwarded_layer(r.down), Some(2));
        // After a silence of every layer, the current one goes on where it was (the
        // decoder has its references) and a lower one is not switched to without a
        // keyframe.
        let mut r = Room::new();
        r.frame(&[0, 1, 2], true);
        r.now += LAYER_TIMEOUT;
        r.now += FRAME;
        let (forwarded, request) = r.send(0, false);
        assert_eq!(forwarded, None);
        assert!(
            matches!(request, Some(Action::RequestKeyframe { layer: 0, .. })),
            "with no layer available, the one sending is asked for a keyframe: {request:?}"
        );
        r.send(1, false);
        assert!(r.send(2, false).0.is_some(), "the current layer goes on");
    }

    #[test]
    fn a_preference_above_what_arrives_gets_the_best_there_is() {
        let mut r = Room::new();
        // A small camera: the browser sends two layers only.
        r.frame(&[0, 1], true);
        let got = r.frame(&[0, 1], false);
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![1]);
        // Preferring less than the lowest available is impossible; below-preference
        // layers are used before higher ones.
        r.f.set_preferred_layer(r.now, r.down, 0);
        r.frame(&[0, 1], true);
        assert_eq!(r.f.forwarded_layer(r.down), Some(0));
    }

    #[test]
    fn a_recording_keeps_the_top_layer_as_one_continuous_stream() {
        let mut r = Room::new();
        let mut kept = Vec::new();
        for (layers, key) in [(&[0u8, 1, 2][..], true), (&[0, 1, 2], false)] {
            r.now += FRAME;
            for l in layers {
                r.send(*l, key);
                let meta = RtpMeta {
                    sequence_number: r.seq[usize::from(*l)],
                    timestamp: 0,
                    keyframe_start: key,
                    vp8: Vp8Ids::default(),
                };
                if let (Some((seq, _)), _) = r.f.record(r.now, r.up, *l, &meta) {
                    kept.push((*l, seq));
                }
            }
        }
        // It climbs to the top layer as the first keyframes come, then keeps it, as
        // one stream numbered without a break.
        assert_eq!(
            kept.iter().map(|k| k.0).collect::<Vec<_>>(),
            vec![0, 1, 2, 2]
        );
        for pair in kept.windows(2) {
            assert_eq!(pair[1].1, pair[0].1.wrapping_add(1));
        }
        // Without simulcast the recording gets packets as they came.
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, PUBLISHER, BOTH).unwrap();
        let (up, _) = f.publish(t0, PUBLISHER, MediaKind::Video).unwrap();
        let meta = RtpMeta {
            sequence_number: 9,
            timestamp: 99,
            keyframe_start: false,
            vp8: Vp8Ids::default(),
        };
        assert_eq!(f.record(t0, up, 0, &meta), (Some((9, 99)), None));
    }

    #[test]
    fn a_late_viewer_asks_for_the_layer_it_will_get_and_starts_at_its_keyframe() {
        let mut r = Room::new();
        r.frame(&[0, 1], true);
        for _ in 0..30 {
            r.frame(&[0, 1], false);
        }
        const LATE: ParticipantId = ParticipantId(3);
        let actions = r.f.join(r.now, LATE, BOTH).unwrap();
        let late = match actions[..] {
            [Action::AddDownTrack { down_track, .. }] => down_track,
            _ => panic!("{actions:?}"),
        };
        r.f.bind(r.now, late);
        let mut requested = Vec::new();
        for _ in 0..20 {
            r.now += FRAME;
            for l in [0, 1] {
                if let (_, Some(Action::RequestKeyframe { layer, .. })) = r.send(l, false) {
                    requested.push(layer);
                }
            }
        }
        assert!(requested.contains(&1), "{requested:?}");
        assert_eq!(r.f.forwarded_layer(late), None);
        r.now += FRAME;
        r.send(0, true);
        r.send(1, true);
        assert_eq!(r.f.forwarded_layer(late), Some(1));
        assert!(r.out.iter().any(|o| o.down_track == late));
    }

    #[test]
    fn vp8_picture_numbering_continues_across_a_switch_and_is_untouched_before_it() {
        let mut r = Room::new();
        // Each layer numbers its pictures on its own: layer 0 from 30 000 (near the
        // 15-bit wrap), layer 1 from 100; TL0PICIDX likewise.
        let mut picture = [30_000u16, 100];
        type Sent = Vec<(u8, Vp8Ids, Vp8Ids)>;
        fn frame(r: &mut Room, picture: &mut [u16; 2], sent: &mut Sent, keyframe: bool) {
            r.now += FRAME;
            for l in [0u8, 1] {
                let i = usize::from(l);
                picture[i] = (picture[i] + 1) & 0x7fff;
                let vp8 = Vp8Ids {
                    picture_id: Some((picture[i], true)),
                    tl0_pic_idx: Some((picture[i] % 256) as u8),
                };
                r.send_vp8(l, keyframe, vp8);
                if let Some(got) = r.viewer_vp8() {
                    sent.push((l, vp8, got));
                }
            }
        }
        let mut sent = Sent::new();
        r.f.set_preferred_layer(r.now, r.down, 0);
        frame(&mut r, &mut picture, &mut sent, true);
        frame(&mut r, &mut picture, &mut sent, false);
        assert!(sent.iter().all(|(l, i, o)| *l == 0 && i == o), "{sent:?}");
        r.now += KEYFRAME_REQUEST_INTERVAL;
        r.f.set_preferred_layer(r.now, r.down, 1);
        frame(&mut r, &mut picture, &mut sent, true);
        frame(&mut r, &mut picture, &mut sent, false);
        // Layer 0 until layer 1's keyframe, then layer 1 renumbered to follow on.
        let layers: Vec<u8> = sent.iter().map(|s| s.0).collect();
        assert_eq!(layers, vec![0, 0, 0, 1, 1]);
        for pair in sent.windows(2) {
            let (a, b) = (pair[0].2, pair[1].2);
            assert_eq!(
                b.picture_id.unwrap().0,
                (a.picture_id.unwrap().0 + 1) & 0x7fff
            );
            assert_eq!(
                b.tl0_pic_idx.unwrap(),
                a.tl0_pic_idx.unwrap().wrapping_add(1)
            );
        }
        assert_ne!(sent[3].1, sent[3].2, "layer 1's own numbering is rewritten");
    }

    #[test]
    fn a_padding_packet_before_a_switch_does_not_break_vp8_picture_numbering() {
        // A browser pads a layer's stream with payload-less packets (bandwidth
        // probing); they carry no VP8 descriptor. If the last packet sent before a
        // switch is one, the new layer must still continue the numbering: a receiver
        // drops every frame, keyframes too, whose picture id seems older than the last
        // one it decoded, so a jump back froze the picture until the next switch.
        let mut r = Room::new();
        let vp8 = |picture: u16| Vp8Ids {
            picture_id: Some((picture, true)),
            tl0_pic_idx: Some((picture % 256) as u8),
        };
        r.f.set_preferred_layer(r.now, r.down, 0);
        r.now += FRAME;
        r.send_vp8(0, true, vp8(5_000));
        let first = r.viewer_vp8().expect("layer 0 starts");
        r.send_vp8(1, true, vp8(20_000));
        assert_eq!(r.viewer_vp8(), None);
        r.now += FRAME;
        r.send_vp8(0, false, vp8(5_001));
        r.viewer_vp8().expect("a delta frame");
        r.send_vp8(1, false, vp8(20_001));
        assert_eq!(r.viewer_vp8(), None);
        r.send_vp8(0, false, Vp8Ids::default());
        assert!(r.viewer_vp8().is_some(), "padding");
        r.now += KEYFRAME_REQUEST_INTERVAL;
        r.f.set_preferred_layer(r.now, r.down, 1);
        r.send_vp8(1, true, vp8(20_002));
        let switched = r.viewer_vp8().expect("the switch");
        assert_eq!(
            switched.picture_id,
            Some(((first.picture_id.unwrap().0 + 2) & 0x7fff, true))
        );
        assert_eq!(
            switched.tl0_pic_idx,
            Some(first.tl0_pic_idx.unwrap().wrapping_add(2))
        );
    }

    #[test]
    fn a_links_ceiling_holds_every_track_below_it_whatever_the_viewer_prefers() {
        let mut r = Room::new();
        r.frame(&[0, 1, 2], true);
        let last = r.frame(&[0, 1, 2], false)[0].1;
        r.now += KEYFRAME_REQUEST_INTERVAL;
        assert_eq!(
            r.f.set_layer_ceiling(r.now, VIEWER, 1),
            vec![Action::RequestKeyframe {
                publisher: PUBLISHER,
                up_track: r.up,
                layer: 1
            }]
        );
        assert_eq!(r.frame(&[0, 1, 2], false), vec![(2, last.wrapping_add(1))]);
        assert_eq!(r.frame(&[0, 1, 2], true), vec![(1, last.wrapping_add(2))]);
        // Preferring the top changes nothing under the ceiling; preferring lower does.
        r.now += KEYFRAME_REQUEST_INTERVAL;
        assert_eq!(r.f.set_preferred_layer(r.now, r.down, 2), None);
        assert_eq!(r.frame(&[0, 1, 2], true), vec![(1, last.wrapping_add(3))]);
        assert!(r.f.set_preferred_layer(r.now, r.down, 0).is_some());
        assert_eq!(r.frame(&[0, 1, 2], true), vec![(0, last.wrapping_add(4))]);
        // Lifted: back up to what the viewer prefers (0), not to the top.
        r.now += KEYFRAME_REQUEST_INTERVAL;
        assert_eq!(r.f.set_layer_ceiling(r.now, VIEWER, 2), vec![]);
        r.f.set_preferred_layer(r.now, r.down, 2);
        // Layer 0's packet of the frame still goes, then the top's keyframe switches.
        assert_eq!(
            r.frame(&[0, 1, 2], true),
            vec![(0, last.wrapping_add(5)), (2, last.wrapping_add(6))]
        );
        assert_eq!(
            r.f.set_layer_ceiling(r.now, PUBLISHER, 0),
            vec![],
            "the publisher receives nothing of its own"
        );
    }

    #[test]
    fn a_track_subscribed_after_the_ceiling_was_lowered_starts_under_it() {
        let mut r = Room::with(|f, now| assert!(f.set_layer_ceiling(now, VIEWER, 0).is_empty()));
        r.frame(&[0, 1, 2], true);
        assert_eq!(r.f.forwarded_layer(r.down), Some(0));
    }

    #[test]
    fn layer_counts_outside_one_to_three_are_refused() {
        let t0 = Instant::now();
        let mut f = Forwarder::new();
        f.join(t0, PUBLISHER, BOTH).unwrap();
        for n in [0, 4] {
            assert_eq!(
                f.publish_layered(t0, PUBLISHER, MediaKind::Video, n).err(),
                Some(ForwardError::LayerCount(n))
            );
        }
    }
}
