#!/usr/bin/env bash
# One command from a fresh clone to a running Viva on http://127.0.0.1:8080:
# installs system packages, builds the web client and the server, starts `viva serve`
# with an embedded SQLite database under ./data. The first start prints the
# administrator's password. Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# The SFU asks for 4 MiB socket buffers each way (bursts to a full room or hundreds of
# trainees overflow Linux's 208 KiB default and drop packets); raise the kernel's caps
# when they are lower, now and at boot. Never lowers a larger setting.
raise_cap() {
  local key=$1 want=4194304 have
  have=$(sysctl -n "$key" 2>/dev/null || echo 0)
  (( have >= want )) && return
  if [[ $(id -u) -eq 0 ]]; then sysctl -qw "$key=$want"; else sudo sysctl -qw "$key=$want"; fi \
    || { echo "warning: could not raise $key (media bursts may drop packets)" >&2; return; }
  echo "$key = $want" | { if [[ $(id -u) -eq 0 ]]; then tee -a /etc/sysctl.d/60-viva.conf; else sudo tee -a /etc/sysctl.d/60-viva.conf; fi; } >/dev/null || true
}
raise_cap net.core.wmem_max
raise_cap net.core.rmem_max
scripts/build-web.sh
cargo build --release --locked
exec target/release/viva serve "$@"
