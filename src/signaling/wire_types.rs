//! The browser's copy of the signaling protocol, generated from the Rust types with
//! `ts-rs` into `web/src/wire.ts`; a unit test fails when the two drift.
//!
//! Why `ts-rs` (and not `typeshare`): it reads the `serde` attributes the protocol
//! already has (internally tagged enums, `rename_all`, a flattened report), so the
//! Rust types stay the single source without a second set of annotations, and it runs
//! as plain Rust in a test, with no extra command-line tool to install for CI.
//! Regenerate after changing a wire type: `VIVA_BLESS=1 cargo test --lib wire_types`.

use ts_rs::{Config, TS};

use super::protocol::{
    BrowserReport, ChatLine, ClientMessage, PeerInfo, ServerMessage, SheetSummary, TrackReport,
    VideoLayer, WaitReason,
};

/// Where the generated file lives, from the repository root.
pub const GENERATED_PATH: &str = "web/src/wire.ts";

/// The TypeScript declarations of every type that crosses the signaling socket.
pub fn typescript() -> String {
    // Counters are JSON numbers, far below 2^53: `number`, not `bigint`.
    let config = Config::new().with_large_int("number");
    let declarations = [
        ClientMessage::decl(&config),
        ServerMessage::decl(&config),
        PeerInfo::decl(&config),
        ChatLine::decl(&config),
        SheetSummary::decl(&config),
        BrowserReport::decl(&config),
        TrackReport::decl(&config),
        VideoLayer::decl(&config),
        WaitReason::decl(&config),
        scheduler::Role::decl(&config),
        scheduler::SessionKind::decl(&config),
        scheduler::record::Criterion::decl(&config),
        crate::turn::IceServer::decl(&config),
        crate::runtime::defense::Phase::decl(&config),
        crate::stability::Quality::decl(&config),
    ];
    let mut out = String::from(
        "// Generated from src/signaling/protocol.rs by src/signaling/wire_types.rs: do not\n\
         // edit. Regenerate with `VIVA_BLESS=1 cargo test --lib wire_types`.\n",
    );
    out.push_str(&format!(
        "\n/** The protocol version this client speaks (`join.protocol`). */\nexport const PROTOCOL_VERSION = {};\n",
        super::protocol::PROTOCOL_VERSION
    ));
    for declaration in declarations {
        out.push('\n');
        out.push_str("export ");
        out.push_str(&declaration);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_browsers_wire_types_match_the_rust_ones() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GENERATED_PATH);
        let generated = typescript();
        if std::env::var_os("VIVA_BLESS").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{GENERATED_PATH} is out of date with the Rust wire types: run \
             `VIVA_BLESS=1 cargo test --lib wire_types` and commit it"
        );
    }
}
