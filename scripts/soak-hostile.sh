#!/usr/bin/env bash
# The hostile-participant soak (docs/security.md, tests/soak/soak.rs): a defense with
# three headless Chromium clients runs for SECONDS (default 180) while 20 hostile
# clients attack a `viva serve` process on loopback. Prints the SOAK REPORT line
# (what the attackers did, the server's memory before / at peak / after, the verdict)
# and fails when any pass condition breaks. The test command runs the 60 s form.
#
#   scripts/soak-hostile.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
scripts/install-deps.sh --with-test-tools >/dev/null
scripts/build-web.sh >/dev/null
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
# Bounded: the soak itself, plus set-up, scoring and the memory settling.
VIVA_SOAK_SECONDS=$seconds timeout $((seconds + 900)) \
  cargo test --locked --test soak -- --nocapture 2>&1 |
  grep -E "SOAK REPORT|^soak:|panicked|test result"
