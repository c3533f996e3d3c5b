//! The signaling protocol, version 1. Messages are JSON objects tagged by `type`, with
//! camelCase fields. The client's first message must be `join` carrying the protocol
//! version it speaks; the server answers `welcome` or an `error` and closes.
//!
//! Client → server:
//! - connection: `join`, `answer`, `candidate` (accepted and ignored: the SFU is
//!   ICE-lite and learns the browser's address from its checks), `renegotiate`,
//!   `leave`, `report` (the browser's own media figures), `preferLayer`;
//! - the agenda (hosts): `admit`, `returnToLobby`, `advance`, `back`, `extend`,
//!   `close`;
//! - scores (experts; hosts reopen): `submitScores`, `reopenScores`;
//! - room controls: `mute`, `unmute`, `askUnmute`, `allowScreen`, `promote`,
//!   `raiseHand`, `remove`, `recording`;
//! - training: `chat`, `removeChat`; everyone: `rate`.
//!
//! Server → client: `welcome`, `offer`, `participantJoined`, `participantLeft`,
//! `lobby`, `queue`, `phase`, `phaseAlert`, `sources`, `participantState`,
//! `unmuteRequested`, `recording`, `chat`, `chatRemoved`, `scoreSheet`, `scores`,
//! `rateRequest`, `rated`, `quality`, `restarting`, `error`.

use scheduler::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The protocol version this server speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest message the server reads. An SDP answer for a few dozen tracks is ~20 KB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// A message from the browser.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message: the protocol version the client speaks.
    Join {
        /// Must equal [`PROTOCOL_VERSION`].
        protocol: u32,
    },
    /// The answer to the latest `offer`.
    Answer {
        /// SDP.
        sdp: String,
    },
    /// A trickled ICE candidate (ignored; see module docs).
    #[serde(rename_all = "camelCase")]
    Candidate {
        /// The candidate line.
        candidate: String,
        /// Its m-line id.
        #[serde(default)]
        #[ts(optional)]
        sdp_mid: Option<String>,
        /// Its m-line index.
        #[serde(default)]
        #[ts(optional)]
        sdp_m_line_index: Option<u32>,
    },
    /// The participant leaves.
    Leave,
    /// Host only: let an applicant in from the lobby.
    #[serde(rename_all = "camelCase")]
    Admit {
        /// The applicant's participant id.
        participant_id: Uuid,
    },
    /// Host only: the next agenda phase.
    Advance,
    /// Host only: back to the previous agenda phase.
    Back,
    /// Host only: more time for the current phase.
    Extend {
        /// Minutes (1–60).
        minutes: u32,
    },
    /// Host only: send an applicant back to the lobby.
    #[serde(rename_all = "camelCase")]
    ReturnToLobby {
        /// The applicant's participant id.
        participant_id: Uuid,
    },
    /// Expert, during scoring: submit (and lock) the score sheet.
    SubmitScores {
        /// One score per criterion, in the order of the `scoreSheet` message.
        scores: Vec<u32>,
        /// Comment (at most 2000 characters).
        comment: String,
    },
    /// Host: reopen an expert's submitted sheet, with a reason (recorded).
    #[serde(rename_all = "camelCase")]
    ReopenScores {
        /// The expert's participant id.
        expert_id: Uuid,
        /// Why.
        reason: String,
    },
    /// Host (trainer for trainees): mute someone's microphone in the SFU.
    #[serde(rename_all = "camelCase")]
    Mute {
        /// Whom.
        participant_id: Uuid,
    },
    /// Unmute oneself (the only way out of a mute).
    Unmute,
    /// Host: ask someone to unmute.
    #[serde(rename_all = "camelCase")]
    AskUnmute {
        /// Whom.
        participant_id: Uuid,
    },
    /// Host: allow or stop someone's screen sharing.
    #[serde(rename_all = "camelCase")]
    AllowScreen {
        /// Whom.
        participant_id: Uuid,
        allowed: bool,
    },
    /// Trainer or host: let a trainee speak, or silence them again.
    #[serde(rename_all = "camelCase")]
    Promote {
        /// The trainee.
        participant_id: Uuid,
        /// Promoted (true) or demoted.
        promoted: bool,
    },
    /// Raise or lower one's hand.
    RaiseHand {
        /// Up.
        raised: bool,
    },
    /// Host: remove someone from the session (they cannot rejoin).
    #[serde(rename_all = "camelCase")]
    Remove {
        /// Whom.
        participant_id: Uuid,
    },
    /// Host (trainer in training): recording on or off.
    Recording { on: bool },
    /// Training sessions: a chat message (1–1000 characters).
    Chat { text: String },
    /// Host or trainer: remove a chat message.
    RemoveChat {
        /// The message.
        id: Uuid,
    },
    /// Host or trainer: end a training session (defenses end through their agenda).
    Close,
    /// After the session closed: a satisfaction rating.
    #[serde(rename_all = "camelCase")]
    Rate {
        /// 1–5.
        stars: u8,
        /// Comment (at most 1000 characters).
        #[serde(default)]
        comment: String,
        /// The session rated, as named by `rateRequest` (default: the current one).
        #[serde(default)]
        #[ts(optional)]
        session_id: Option<Uuid>,
    },
    /// Ask the server for a fresh offer: a new local track for a slot, or an ICE
    /// restart after the network changed.
    Renegotiate,
    /// The picture size wanted of a received video track (its simulcast layer), e.g.
    /// low for a small tile. Honoured as far as the publisher sends layers.
    PreferLayer {
        /// The track's id (`MediaStreamTrack.id`, from the offer's `a=msid`).
        track: String,
        /// What is wanted.
        layer: VideoLayer,
    },
    /// Every few seconds: the browser's own view of its media (from `getStats`).
    Report(BrowserReport),
}

/// A received video track's wanted picture size: one simulcast layer each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum VideoLayer {
    /// The lowest layer (about a quarter of the camera's width).
    Low,
    /// The middle layer (about half).
    Medium,
    /// The full picture.
    High,
}

impl VideoLayer {
    /// The simulcast layer it names.
    pub fn index(self) -> media::forward::Layer {
        match self {
            VideoLayer::Low => 0,
            VideoLayer::Medium => 1,
            VideoLayer::High => 2,
        }
    }
}

/// What the browser measures itself; cumulative where the browser's counters are.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BrowserReport {
    /// Video frames decoded, all tracks.
    #[serde(default)]
    pub frames_decoded: u64,
    /// Video freezes, all tracks.
    #[serde(default)]
    pub freeze_count: u64,
    /// Seconds frozen, all tracks.
    #[serde(default)]
    pub total_freezes_duration: f64,
    /// Mean jitter-buffer delay, seconds.
    #[serde(default)]
    pub jitter_buffer_delay: f64,
    /// Available outgoing bitrate (bit/s) of the selected candidate pair.
    #[serde(default)]
    pub available_outgoing_bitrate: Option<f64>,
    /// The selected local candidate's type (`host`, `srflx`, `relay`).
    #[serde(default)]
    pub candidate_type: Option<String>,
    /// The same per received video track.
    #[serde(default)]
    pub tracks: Vec<TrackReport>,
}

/// The browser's view of one received video track (cumulative).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrackReport {
    /// The track's id as the SFU offered it in SDP (`inbound-rtp.trackIdentifier`).
    pub track_identifier: String,
    /// Frames decoded.
    #[serde(default)]
    pub frames_decoded: u64,
    #[serde(default)]
    pub freeze_count: u64,
    /// Seconds frozen.
    #[serde(default)]
    pub total_freezes_duration: f64,
}

/// Someone in the session, as others see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct PeerInfo {
    /// Participant id; also the stream id of their media in SDP.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    pub role: Role,
}

/// A message to the browser.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    /// The join succeeded.
    #[serde(rename_all = "camelCase")]
    Welcome {
        /// The protocol version in use.
        protocol: u32,
        /// The joining participant.
        me: PeerInfo,
        /// Session id.
        session_id: Uuid,
        /// Session title.
        session_title: String,
        /// Defense or training.
        session_kind: scheduler::SessionKind,
        /// Everyone else present.
        participants: Vec<PeerInfo>,
        /// Relays to add to the connection's ICE servers before answering (TURN over
        /// TLS for networks that let nothing else out); empty without a relay.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<crate::turn::IceServer>,
    },
    /// An SDP offer to answer.
    Offer {
        /// SDP.
        sdp: String,
    },
    /// Someone arrived.
    ParticipantJoined {
        /// Who.
        participant: PeerInfo,
    },
    /// Whether this participant is in the lobby (no media in or out).
    #[serde(rename_all = "camelCase")]
    Lobby {
        /// In the lobby.
        in_lobby: bool,
        /// Why, when it is not the applicant's lobby: `notSeated` for a panel member
        /// who has no seat in the defense being held (a conflict of interest, or not
        /// booked into it); they rejoin the room when the next defense they sit in
        /// starts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<WaitReason>,
    },
    /// The agenda phase (on join and on every change). `endsAt` is the server's end of
    /// the phase's time (extensions included); clients count down to it. Time running
    /// out ends nothing.
    #[serde(rename_all = "camelCase")]
    Phase {
        /// Current phase.
        phase: crate::runtime::defense::Phase,
        /// When its time is up (none for the lobby and closed).
        ends_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// One minute left, or the phase's time is used up.
    #[serde(rename_all = "camelCase")]
    PhaseAlert {
        /// The phase.
        phase: crate::runtime::defense::Phase,
        /// `oneMinuteLeft` or `overtime`.
        alert: String,
    },
    /// Which of your sources reach the room (the SFU drops the others).
    Sources {
        microphone: bool,
        camera: bool,
        /// Screen sharing.
        screen: bool,
    },
    /// A participant's controllable state, for everyone's participant list.
    #[serde(rename_all = "camelCase")]
    ParticipantState {
        /// Who.
        participant_id: Uuid,
        /// Muted by the host.
        muted: bool,
        /// May share their screen.
        screen_allowed: bool,
        /// A trainee allowed to speak.
        promoted: bool,
        /// Hand raised.
        hand_raised: bool,
    },
    /// The host asks you to unmute.
    UnmuteRequested,
    /// Whether the session is being recorded (everyone sees an indicator).
    Recording { on: bool },
    /// A chat message (also sent for the history on join).
    Chat {
        /// The message.
        message: ChatLine,
    },
    /// A chat message was removed by the host.
    ChatRemoved {
        /// Its id.
        id: Uuid,
    },
    /// Experts: the criteria and your sheet's state.
    #[serde(rename_all = "camelCase")]
    ScoreSheet {
        /// Criteria in order.
        criteria: Vec<scheduler::record::Criterion>,
        /// Your submitted scores, if any.
        scores: Option<Vec<u32>>,
        /// Your comment.
        comment: String,
        /// Locked (submitted and not reopened).
        locked: bool,
    },
    /// Live connection quality of a participant (to them and to hosts), per direction;
    /// a direction without media is null.
    #[serde(rename_all = "camelCase")]
    Quality {
        /// Whose.
        participant_id: Uuid,
        /// Their uplink (what they send).
        up: Option<crate::stability::Quality>,
        /// Their downlink (what they receive).
        down: Option<crate::stability::Quality>,
    },
    /// Hosts only: every sheet and the aggregate. Never sent to applicants.
    #[serde(rename_all = "camelCase")]
    Scores {
        /// Per expert.
        sheets: Vec<SheetSummary>,
        /// Mean of the submitted totals (0–100).
        mean: Option<f64>,
    },
    /// A session closed: please rate it.
    #[serde(rename_all = "camelCase")]
    RateRequest {
        /// The session to rate.
        session_id: Uuid,
    },
    /// Applicants of a panel day: how many defenses come before yours (0: yours is
    /// being held; wait for the host to admit you).
    Queue {
        /// Defenses before yours.
        ahead: usize,
    },
    /// Your rating was stored.
    Rated,
    /// The server is restarting (a planned stop): this connection closes now; join
    /// again in a few seconds with the same link, and your seat will be as you left it.
    Restarting,
    /// Someone left.
    ParticipantLeft {
        /// Who.
        id: Uuid,
    },
    /// Something went wrong; `fatal` errors are followed by the server closing.
    Error {
        /// Stable code.
        code: String,
        /// Human-readable explanation.
        message: String,
        /// Whether the connection is closing.
        fatal: bool,
    },
}

/// Why someone other than an applicant waits outside the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub enum WaitReason {
    /// A panel member without a seat in the defense being held.
    NotSeated,
}

/// A chat message as participants see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ChatLine {
    /// Id (for removal).
    pub id: Uuid,
    pub author_id: Uuid,
    /// Author's name.
    pub author_name: String,
    pub text: String,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// One expert's sheet as the host sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SheetSummary {
    pub expert_id: Uuid,
    pub name: String,
    /// Submitted and locked.
    pub submitted: bool,
    /// Weighted total (0–100) when submitted.
    pub total: Option<f64>,
}

/// Why a client message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Not JSON, not an object of a known type, or with wrong fields.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Bigger than [`MAX_MESSAGE_BYTES`].
    #[error("message larger than {MAX_MESSAGE_BYTES} bytes")]
    TooLarge,
    /// Binary frames are not part of the protocol.
    #[error("binary messages are not supported")]
    Binary,
}

impl ProtocolError {
    /// Stable code for the `error` message.
    pub fn code(&self) -> &'static str {
        match self {
            ProtocolError::Malformed(_) => "malformed_message",
            ProtocolError::TooLarge => "message_too_large",
            ProtocolError::Binary => "binary_not_supported",
        }
    }
}

/// Parses one text frame.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge);
    }
    serde_json::from_str(text).map_err(|e| {
        // serde's message names the field or variant but never echoes the whole input.
        let mut reason = e.to_string();
        reason.truncate(200);
        ProtocolError::Malformed(reason)
    })
}

impl ServerMessage {
    /// An `error` message.
    pub fn error(code: &str, message: impl Into<String>, fatal: bool) -> Self {
        ServerMessage::Error {
            code: code.to_owned(),
            message: message.into(),
            fatal,
        }
    }

    /// JSON text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| {
            r#"{"type":"error","code":"internal","message":"encoding failed","fatal":true}"#
                .to_owned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_messages_parse() {
        assert_eq!(
            parse_client_message(r#"{"type":"join","protocol":1}"#).unwrap(),
            ClientMessage::Join { protocol: 1 }
        );
        assert_eq!(
            parse_client_message(r#"{"type":"answer","sdp":"v=0"}"#).unwrap(),
            ClientMessage::Answer { sdp: "v=0".into() }
        );
        assert!(matches!(
            parse_client_message(
                r#"{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}"#
            )
            .unwrap(),
            ClientMessage::Candidate { .. }
        ));
        assert_eq!(
            parse_client_message(r#"{"type":"leave"}"#).unwrap(),
            ClientMessage::Leave
        );
    }

    #[test]
    fn reports_carry_their_tracks_and_refuse_anything_else() {
        let ok = parse_client_message(
            r#"{"type":"report","freezeCount":2,"tracks":[{"trackIdentifier":"p-video-1","freezeCount":2,"framesDecoded":90}]}"#,
        )
        .unwrap();
        let ClientMessage::Report(report) = ok else {
            panic!("not a report: {ok:?}")
        };
        assert_eq!(report.tracks.len(), 1);
        assert_eq!(report.tracks[0].track_identifier, "p-video-1");
        assert_eq!(
            (
                report.tracks[0].freeze_count,
                report.tracks[0].frames_decoded
            ),
            (2, 90)
        );
        // An older client's report, without tracks, is still a report.
        assert!(matches!(
            parse_client_message(r#"{"type":"report","freezeCount":1}"#).unwrap(),
            ClientMessage::Report(BrowserReport { ref tracks, .. }) if tracks.is_empty()
        ));
        for bad in [
            r#"{"type":"report","tracks":{}}"#,
            r#"{"type":"report","tracks":[{}]}"#,
            r#"{"type":"report","tracks":[{"trackIdentifier":7}]}"#,
            r#"{"type":"report","tracks":[{"trackIdentifier":"t","freezeCount":-1}]}"#,
            r#"{"type":"report","tracks":[{"trackIdentifier":"t","ssrc":1}]}"#,
        ] {
            let err = parse_client_message(bad).unwrap_err();
            assert_eq!(err.code(), "malformed_message", "{bad:?}");
        }
    }

    #[test]
    fn a_layer_preference_names_a_track_and_one_of_three_layers() {
        for (name, index) in [("low", 0), ("medium", 1), ("high", 2)] {
            let text = format!(r#"{{"type":"preferLayer","track":"p-video-3","layer":"{name}"}}"#);
            match parse_client_message(&text).unwrap() {
                ClientMessage::PreferLayer { track, layer } => {
                    assert_eq!(track, "p-video-3");
                    assert_eq!(layer.index(), index);
                }
                other => panic!("{other:?}"),
            }
        }
        for bad in [
            r#"{"type":"preferLayer","track":"t","layer":"ultra"}"#,
            r#"{"type":"preferLayer","track":"t","layer":2}"#,
            r#"{"type":"preferLayer","layer":"low"}"#,
            r#"{"type":"preferLayer","track":"t","layer":"low","ssrc":1}"#,
        ] {
            let err = parse_client_message(bad).unwrap_err();
            assert_eq!(err.code(), "malformed_message", "{bad:?}");
        }
    }

    #[test]
    fn hostile_messages_are_refused_with_a_code() {
        for bad in [
            "",
            "null",
            "[]",
            "{}",
            r#"{"type":"offer","sdp":"x"}"#,
            r#"{"type":"answer"}"#,
            r#"{"type":"answer","sdp":42}"#,
            r#"{"type":"join","protocol":-1}"#,
            r#"{"type":"join","protocol":1,"role":"host"}"#,
            "{\"type\":\"answer\",\"sdp\":\"\\ud800\"}",
        ] {
            let err = parse_client_message(bad).unwrap_err();
            assert_eq!(err.code(), "malformed_message", "{bad:?}");
        }
        let huge = format!(
            r#"{{"type":"answer","sdp":"{}"}}"#,
            "a".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(
            parse_client_message(&huge).unwrap_err(),
            ProtocolError::TooLarge
        );
    }

    #[test]
    fn server_messages_are_tagged_camel_case() {
        let text = ServerMessage::ParticipantLeft { id: Uuid::nil() }.to_text();
        assert_eq!(
            text,
            r#"{"type":"participantLeft","id":"00000000-0000-0000-0000-000000000000"}"#
        );
        let text = ServerMessage::error("bad", "no", false).to_text();
        assert!(text.contains(r#""fatal":false"#));
    }
}
