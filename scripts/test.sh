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

# A throwaway PostgreSQL server (Unix socket only) for the storage conformance suite.
pg_dir=$(mktemp -d -u /tmp/viva-test-pg.XXXXXX)
trap 'scripts/pg-test-cluster.sh stop "$pg_dir"' EXIT
VIVA_TEST_POSTGRES_URL=$(scripts/pg-test-cluster.sh start "$pg_dir")
export VIVA_TEST_POSTGRES_URL

# A failing test's message, not twenty frames of tokio, is what a truncated CI log
# must keep.
export RUST_BACKTRACE=0
cargo test --workspace --locked
