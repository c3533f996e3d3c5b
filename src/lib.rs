//! The `viva` server: books project-defense and training sessions, relays their media,
//! and (in later parts) records them and measures their stability.
//!
//! # Layout
//! - [`alerts`]: unstable sessions, recorder, low disk → log and webhook.
//! - [`app`]: builds the server from a [`config::Config`] and runs it.
//! - [`config`]: defaults → TOML file → environment; secrets that cannot print.
//! - [`telemetry`]: logging, and the [`telemetry::Pii`] wrapper for personal data.
//! - [`auth`]: signed join grants and administrator sign-ins; password hashing.
//! - [`http`]: the HTTP edge, one router per area (health, sign-in, sessions, pages,
//!   `/rtc`, WHIP, the admin listener), typed errors. Nothing below it imports it.
//! - [`access`]: what a join link lets its holder do (signature, window, revocations).
//! - [`audit`]: the audit log's one ordered writer.
//! - [`budget`] and [`limits`]: per-connection and per-address budgets (pure), the
//!   public endpoints' limits and the bound on password checks.
//! - [`ingest`]: live WHIP feeds per session and what a WHIP offer must be.
//! - [`links`]: personal join links.
//! - [`mail`]: outgoing e-mail through the configured relay.
//! - [`rooms`]: the room service: places rooms, seats, entry, the runtime's effects.
//! - [`recording`] and [`production`]: recording driven by sessions, post-production.
//! - [`priority`]: thread priorities (the media thread first).
//! - [`import`]: CSV import shared by `viva import` and the admin upload.
//! - [`planning`]: planning (and booking) a defense day from panels and projects.
//! - [`notify`]: per-participant invitations (.ics), recorded and logged.
//! - [`backup`]: database snapshots with an asset manifest, restore, the schedule.
//! - [`metrics`]: Prometheus text for `/metrics` (served by the admin listener).
//! - [`report`]: the yearly indicators behind `viva report`.
//! - [`stability`]: stability definition v1: samples, live quality, verdicts.
//! - [`runtime`]: session rules (defense phases, countdowns, lobby, scoring), pure.
//! - [`signaling`]: the signaling protocol, presence, commands, and the pump between
//!   a socket's frames and the room service and SFU.
//! - [`setup_check`]: the set-up check's verdict and advice (pure).
//! - [`state`]: what handlers share.
//! - [`supervision`]: systemd readiness, the watchdog, and what "alive" means.
//! - [`turn`]: short-lived TURN relay credentials (coturn's `use-auth-secret`).
//! - [`fuzzing`]: fuzz targets of the server's parsers of untrusted bytes.
//!
//! The media plane lives in the `media` crate, bookings and storage in `scheduler`;
//! this crate wires them together and holds no media or booking rules itself.

pub mod access;
pub mod alerts;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod budget;
pub mod config;
pub mod fuzzing;
pub mod http;
pub mod import;
pub mod ingest;
pub mod limits;
pub mod links;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod planning;
pub mod priority;
pub mod production;
pub mod recording;
pub mod report;
pub mod rooms;
pub mod runtime;
pub mod setup_check;
pub mod signaling;
pub mod stability;
pub mod state;
pub mod supervision;
pub mod telemetry;
pub mod turn;
