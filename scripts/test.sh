#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests use (GStreamer, Debian's
# Chromium, Node packages from the lock files), builds the web client, checks
# formatting and lints, then runs every test (unit, integration, real browsers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --with-test-tools
scripts/build-web.sh
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
(cd web && npm run typecheck --silent)
cargo test --workspace --locked
