//! The room service, below the edges (signaling, HTTP): it loads and places rooms
//! ([`place`]), decides who sits where and ends seats ([`seats`]), tells a joining
//! participant the room's state ([`entry`]) and carries out the runtime's effects
//! ([`effects`]); it saves live rooms and rebuilds them after a restart ([`live`]).
//! The rules themselves are [`crate::runtime`]'s pure state machines; the signaling
//! connection only pumps messages between a socket and this service.

pub mod effects;
pub mod entry;
pub mod live;
pub mod place;
pub mod seats;
