#!/usr/bin/env bash
# Loss injected on arrival with two Chromium pages (tests/api/stability.rs,
# chromium_loss_on_arrival_is_stored_as_injected_both_ways): 5% and 20% dropped at
# random at the receiving side's veth, both directions at once; prints what was stored
# per direction and source against what nftables dropped of that kind. Needs root.
# SECONDS per level (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
VIVA_LOSS_SECONDS="${1:-60}" cargo test --test api -- --ignored --nocapture \
    chromium_loss_on_arrival_is_stored_as_injected_both_ways 2>&1 \
    | grep -E "^  |chromium loss|test result|panicked"
