//! Viva's scheduling domain and its storage.
//!
//! # Layout
//! - [`domain`]: the types of the booking world (roles, sessions, participants), each
//!   parsed from raw input at the edge so that the rest of the system only ever sees
//!   valid values.
//! - [`store`]: the [`Store`] trait every storage backend implements, and its errors.
//! - [`sqlite`]: the embedded SQLite backend (the default).
//!
//! This crate knows nothing about media, HTTP or signaling.

pub mod domain;
pub mod sqlite;
pub mod store;

pub use domain::{
    DomainError, NewParticipant, NewSession, Participant, PersonName, Role, Session, SessionKind,
    Title,
};
pub use sqlite::SqliteStore;
pub use store::{Store, StoreError, UserRecord};
