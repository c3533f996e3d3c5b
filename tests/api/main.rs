//! End-to-end tests of the built server: each test starts its own `viva` on port 0
//! with a temporary SQLite database (see `helpers::spawn_app`). One binary, so the
//! server crate is linked once.

// Test helpers fail loudly by design.
#![allow(clippy::unwrap_used)]

mod architecture;
mod backup;
mod browser;
mod cli;
mod coturn;
mod fuzz_corpus;
mod hardening;
mod helpers;
mod join_links;
mod lobby;
mod mail;
mod media_relay;
mod netns;
mod planning;
mod reach;
mod reconnect;
mod recording;
mod restart;
mod rtc_client;
mod scheduling;
mod session_runtime;
mod sessions;
mod signaling;
mod stability;
mod whip;
mod ws_client;
