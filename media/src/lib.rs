//! Viva's media plane.
//!
//! # Layout
//! - [`forward`]: the forwarding core, a pure state machine with time passed in: rooms'
//!   up-tracks and down-tracks, who receives what, sequence/timestamp rewriting,
//!   keyframe-request throttling. Tested without sockets.
//! - [`sfu`]: the transport adapter. One thread, one UDP port for all participants,
//!   webrtc-rs's sans-IO `rtc` peer connections; carries out the forwarder's decisions.
//! - [`simulcast`]: asking browsers for their camera in three layers (SDP).
//! - [`outbox`]: outgoing datagrams sent together with `sendmmsg(2)`.
//! - [`delay`]: kernel receive stamps, and how long the media plane holds a packet.
//! - [`stun`]: reads the ICE ufrag from STUN checks and verifies their integrity.
//! - [`demux`]: which connection a datagram on the one port belongs to; addresses
//!   are learnt only from authentic checks (pure).
//! - [`tcp`]: ICE over TCP on one port (RFC 6544/4571): framing (pure) and the
//!   per-connection reader and bounded writer.
//! - [`codec`]: facts read from payloads without decoding (VP8 keyframe starts).
//! - [`recorder`]: writes forwarded RTP to crash-safe Matroska parts (GStreamer).
//! - [`parts`]: when a recorded track starts a new part (pure).
//! - [`production`]: composes a recording into MP4, HLS, thumbnail and chapters.
//! - [`quality`]: what arrives per published stream: expected, lost at first sight,
//!   recovered, jitter, frames (pure).
//! - [`feedback`]: downlink loss before repair, counted from subscribers' NACKs.
//! - [`downlink`]: each subscriber's layer ceiling, from its link's loss (pure).
//! - [`twcc`]: transport-wide congestion feedback for publishers (pure).
//! - [`ids`]: identifier newtypes.
//! - [`fuzzing`]: the fuzz targets of every parser that sees a participant's bytes.
//!
//! This crate knows nothing of sessions, people or the database; `viva` wires it in.

pub mod codec;
pub mod delay;
pub mod demux;
pub mod downlink;
pub mod feedback;
pub mod forward;
pub mod fuzzing;
pub mod ids;
pub mod outbox;
pub mod parts;
pub mod production;
pub mod quality;
pub mod recorder;
pub mod sfu;
pub mod simulcast;
pub mod stun;
pub mod tcp;
pub mod twcc;

pub use forward::{MediaGrant, MediaKind};
pub use sfu::{JoinRequest, PeerEvent, PeerHandle, Sfu, SfuConfig, SfuStats};
