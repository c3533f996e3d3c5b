#!/usr/bin/env bash
# Coverage-guided fuzzing of one parser of untrusted bytes, under AFL++ (cargo-afl,
# which works on the stable toolchain and builds AFL++ itself).
#
#   scripts/fuzz.sh TARGET SECONDS [--keep]
#
# TARGET is one of fuzz/Cargo.toml's binaries (signaling, token, whip_offer, stun,
# rtp, rtcp, sdp, csv_import, ics). It starts from fuzz/corpus/TARGET and writes to
# fuzz/out/TARGET. At the end it prints executions, speed, coverage paths and
# crashes. With --keep, the inputs that reached new coverage are added to
# fuzz/corpus/TARGET, which the test command replays; every crash is copied there too
# (crash-*), so that it becomes a regression test once fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET SECONDS [--keep]}
seconds=${2:?usage: scripts/fuzz.sh TARGET SECONDS [--keep]}
keep=${3:-}
[[ -d fuzz/corpus/$target ]] || { echo "no such target: $target (see fuzz/Cargo.toml)" >&2; exit 2; }

command -v cargo-afl >/dev/null 2>&1 || cargo install cargo-afl --locked
# Builds AFL++'s runtime for this toolchain once (a no-op afterwards).
cargo afl config --build >/dev/null 2>&1 || true
(cd fuzz && cargo afl build --release --bin "$target" 2>&1 | tail -n 2)

out=fuzz/out/$target
mkdir -p "$out"
# No UI, no CPU-governor or core-pattern checks (this may run in a container), and
# a fresh start each time (-i: the stored corpus).
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 \
  AFL_NO_AFFINITY=1
rm -rf "$out/default"
(cd fuzz && cargo afl fuzz -V "$seconds" -t 2000 -i "corpus/$target" -o "out/$target" \
  "target/release/$target" >"out/$target/afl.log" 2>&1) || {
  echo "afl-fuzz failed; its log:" >&2; tail -n 30 "$out/afl.log" >&2; exit 1; }

stats=$out/default/fuzzer_stats
value() { awk -F' *: *' -v k="$1" '$1==k {print $2}' "$stats"; }
crashes=$(value saved_crashes)
printf '%s: %s s, %s executions (%s/s), %s corpus entries, %s crashes, %s hangs, edges %s\n' \
  "$target" "$(value run_time)" "$(value execs_done)" "$(value execs_per_sec)" \
  "$(value corpus_count)" "$crashes" "$(value saved_hangs)" "$(value edges_found)"

if [[ "$crashes" != "0" ]]; then
  for c in "$out"/default/crashes/id:*; do
    name=crash-$(sha256sum "$c" | cut -c1-16)
    cp "$c" "fuzz/corpus/$target/$name"
    echo "crash kept as fuzz/corpus/$target/$name"
  done
fi
if [[ "$keep" == "--keep" ]]; then
  # Every input that reached new coverage (AFL++ marks them "+cov"), named by its
  # hash so that keeping twice adds nothing. (afl-cmin would minimise further, but
  # finds no instrumentation output in cargo-afl's persistent-mode binaries.)
  n=0
  for f in "$out"/default/queue/*+cov*; do
    [[ -f "$f" ]] || continue
    name=cov-$(sha256sum "$f" | cut -c1-16)
    [[ -e "fuzz/corpus/$target/$name" ]] || { cp "$f" "fuzz/corpus/$target/$name"; n=$((n + 1)); }
  done
  echo "kept $n new inputs that reached new coverage in fuzz/corpus/$target"
fi
