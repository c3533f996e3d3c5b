//! WebSocket signaling: the versioned JSON protocol ([`protocol`]), who is present in
//! which session ([`presence`]), and the pump between a participant's socket, the
//! media plane and the room service ([`ws`]; `http::rtc` is its HTTP edge); session
//! commands (agenda, scores, host controls, chat, ratings) are checked and run in
//! [`commands`] (their effects by [`crate::rooms`]). The browser's copy of the
//! protocol's types is generated from it ([`wire_types`]).

pub mod check;
pub mod commands;
pub mod metering;
pub mod presence;
pub mod protocol;
pub mod wire_types;
pub mod ws;

/// One frame of a signaling socket, whatever carries it (a WebSocket at the HTTP
/// edge, channels in tests). Control frames carry no payload here: pongs answer
/// pings in the transport, and only their arrival matters to the pump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A JSON message.
    Text(String),
    /// Binary data (not part of the protocol).
    Binary(Vec<u8>),
    /// A keepalive ping.
    Ping,
    /// A keepalive answer.
    Pong,
    /// The other side closes.
    Close,
}
