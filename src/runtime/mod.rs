//! The session runtime: the rules of a defense (and, later, of a training session) as
//! pure state machines with time passed in. The signaling layer will drive them and
//! carry out their effects; nothing here does I/O.

pub mod defense;
pub mod lobby;
pub mod registry;
