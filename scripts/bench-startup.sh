#!/usr/bin/env bash
# Start-up with 50 live sessions to rebuild (issue #19): books 50 defenses in a
# `viva serve` process, starts each one's agenda, kills the server three times and
# measures how long each new start takes to answer /healthz and to rebuild the rooms.
# Prints one BENCH line. Release build, so the figure is what production sees.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --test api -- --ignored --nocapture bench_startup_with_50_live_sessions 2>&1 \
    | grep -E "^BENCH|test result"
