//! Viva's scheduling domain and its storage.
//!
//! # Layout
//! - [`domain`]: the types of the booking world (roles, sessions, participants), each
//!   parsed from raw input at the edge so that the rest of the system only ever sees
//!   valid values.
//! - [`ics`]: iCalendar invitations (stable UID, SEQUENCE, CANCEL).
//! - [`fuzzing`]: fuzz targets of the CSV import and the invitation renderer.
//! - [`import`]: CSV (UTF-8 with or without BOM, GBK) parsed and validated, all-or-nothing.
//! - [`model`]: organisations, people, programmes, projects, conflicts of interest,
//!   rooms, and the typed reasons a booking is refused.
//! - [`planner`]: places a defense day's projects into panels' slots (pure).
//! - [`record`]: what a held session leaves: score sheets, ratings, chat, and the
//!   hash-chained audit log with its verification.
//! - [`store`]: the storage traits by concern (accounts, directory, booking, session
//!   records, audit, samples, live state, backups, recordings, help videos), [`Store`]
//!   as their sum, and the errors.
//! - [`sqlite`]: the embedded SQLite backend (the default).
//! - [`postgres`]: the PostgreSQL backend for larger deployments. Both backends have
//!   one file per concern, named alike (`sqlite/booking.rs` beside
//!   `postgres/booking.rs`), so a pair reads side by side; the conformance suite
//!   (`tests/conformance/`) is split the same way and runs every test on both.
//!
//! Booking integrity lives in the database in both backends: overlapping claims on one
//! person or room are refused by a trigger (SQLite) or an exclusion constraint
//! (PostgreSQL), and an expert with a conflict of interest is refused by a trigger.
//!
//! This crate knows nothing about media, HTTP or signaling.

pub mod domain;
pub mod fuzzing;
pub mod ics;
pub mod import;
pub mod model;
pub mod planner;
pub mod postgres;
pub mod record;
pub mod sqlite;
pub mod store;

pub use domain::{
    DomainError, NewParticipant, NewSession, Participant, PersonName, Role, Session, SessionKind,
    Title,
};
pub use model::BookingConflict;
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use store::{Store, StoreError, UserRecord};
