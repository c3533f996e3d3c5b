#!/usr/bin/env bash
# What a direct write path in webrtc-rs's `rtc` would be worth (issue #7): builds Viva
# against a copy of `rtc` 0.21.1 patched with scripts/patches/rtc-direct-write.patch
# (one forwarded packet goes through the interceptors, SRTP and ICE only, instead of a
# sweep of all eight handlers), then measures it A-B-B-A against this tree's build.
# Nothing here changes the product: the patched binary lives in a temporary directory.
#
#   scripts/bench-rtc-direct.sh                          # three defense rooms, ROUNDS=2
#   POINTS="defense 1;defense 3" ROUNDS=3 scripts/bench-rtc-direct.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
find_rtc() { ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/rtc-0.21.1 2>/dev/null | head -1 || true; }
registry=$(find_rtc)
[[ -n $registry ]] || { cargo fetch -q; registry=$(find_rtc); }
[[ -n $registry ]] || { echo "rtc 0.21.1 is not in the cargo registry" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$registry" "$work/rtc" && chmod -R u+w "$work/rtc"
patch -s -d "$work/rtc" -p1 <scripts/patches/rtc-direct-write.patch
mkdir "$work/viva" && git archive HEAD | tar -x -C "$work/viva"
cp Cargo.lock "$work/viva/"
patch -s -d "$work/viva" -p1 <scripts/patches/viva-direct-write.patch
printf '\n[patch.crates-io]\nrtc = { path = "%s" }\n' "$work/rtc" >>"$work/viva/Cargo.toml"
(cd "$work/viva" && CARGO_TARGET_DIR="$root/target/rtc-direct" cargo build --release -q -p viva)
cp target/rtc-direct/release/viva "$work/viva-direct"
VIVA_B="$work/viva-direct" POINTS="${POINTS:-defense 3}" ROUNDS="${ROUNDS:-2}" \
  OUT="${OUT:-target/rtc-direct/bench}" scripts/bench-sfu.sh
