#!/usr/bin/env bash
# One command from a fresh clone to a running Viva on http://127.0.0.1:8080:
# installs system packages, builds the web client and the server, starts `viva serve`
# with an embedded SQLite database under ./data. The first start prints the
# administrator's password. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build-web.sh
cargo build --release --locked
exec target/release/viva serve "$@"
