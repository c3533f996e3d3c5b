//! The session runtime: the rules of a defense (agenda, lobby, scores) and of every
//! live room (sources, host controls, hands, chat, ratings) as pure state machines
//! with time passed in. The signaling layer drives them and carries out their effects;
//! nothing here does I/O.

pub mod days;
pub mod defense;
pub mod lobby;
pub mod registry;
pub mod room;
