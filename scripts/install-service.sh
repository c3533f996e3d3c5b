#!/usr/bin/env bash
# Installs Viva as a systemd service (deploy/viva.service): builds the release binary,
# creates the `viva` user and /var/lib/viva, puts a configuration in /etc/viva if
# none is there, and enables and starts the service. Run as root, from the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
    echo "run as root: sudo $0" >&2
    exit 1
fi
scripts/install-deps.sh
scripts/build-web.sh
cargo build --release --locked --bin viva
install -m 0755 target/release/viva /usr/local/bin/viva
id viva >/dev/null 2>&1 || useradd --system --home-dir /var/lib/viva --shell /usr/sbin/nologin viva
install -d -o viva -g viva -m 0750 /var/lib/viva
install -d -m 0755 /etc/viva
if [[ ! -e /etc/viva/viva.toml ]]; then
    sed -e 's|^dir = "web/dist"|dir = "/usr/local/share/viva/web"|' viva.example.toml > /etc/viva/viva.toml
    chmod 0640 /etc/viva/viva.toml
    chgrp viva /etc/viva/viva.toml
fi
install -d -m 0755 /usr/local/share/viva
rm -rf /usr/local/share/viva/web
cp -r web/dist /usr/local/share/viva/web
install -m 0644 deploy/viva.service /etc/systemd/system/viva.service
systemctl daemon-reload
systemctl enable --now viva.service
systemctl --no-pager status viva.service || true
echo "Viva runs under systemd: journalctl -u viva -f"
