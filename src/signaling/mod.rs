//! WebSocket signaling: the versioned JSON protocol ([`protocol`]), who is present in
//! which session ([`presence`]), and the adapter that joins a WebSocket to the media
//! plane ([`ws`]); session commands (agenda, scores, host controls, chat, ratings)
//! are carried out in [`commands`]; who sits where, and ending seats, in [`seats`].

pub mod check;
pub mod commands;
pub mod metering;
pub mod presence;
pub mod protocol;
pub mod seats;
pub mod ws;
