#!/usr/bin/env bash
# Installs the system packages Viva builds and runs with, on Debian 12 / Ubuntu 22.04+.
# Usage: scripts/install-deps.sh [--with-test-tools]
# Idempotent: packages already present are left alone; nothing is downloaded except
# from the distribution's own repositories.
set -euo pipefail

packages=(
  pkg-config build-essential
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  postgresql-client  # pg_dump / pg_restore for backups of PostgreSQL deployments
)
if [[ "${1:-}" == "--with-test-tools" ]]; then
  # Debian's Chromium is the browser the end-to-end tests drive (never a downloaded one).
  packages+=(chromium)
  # A throwaway PostgreSQL cluster runs the storage conformance suite (btree_gist is in
  # postgresql-contrib on Debian 12; newer releases ship it in the server package).
  packages+=(postgresql postgresql-contrib)
  # Network namespaces and nftables loss for the fault and reconnection tests.
  packages+=(iproute2 nftables)
  # A real TURN relay (TLS, throwaway certificate) for the reach tests.
  packages+=(coturn openssl)
fi
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "system packages: all present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing: ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
