//! The hostile-participant soak (`soak.rs`), in a test binary of its own: cargo runs
//! test binaries one after another, so the soak has the machine to itself instead of
//! sharing two cores with whichever of the `api` binary's tests take no lock (a CI
//! run of it inside that binary once measured a neighbour's load as a stall). It uses
//! the `api` binary's helpers and clients from their files.

// Test helpers fail loudly by design; this binary uses only some of them.
#![allow(clippy::unwrap_used, dead_code)]

#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/rtc_client.rs"]
mod rtc_client;
#[path = "../api/ws_client.rs"]
mod ws_client;

/// What the soak needs of the `api` binary's browser module.
mod browser {
    pub use crate::helpers::require_browser_tooling;
}

mod soak;
