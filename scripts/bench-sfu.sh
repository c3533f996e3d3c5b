#!/usr/bin/env bash
# Viva and Janus side by side under the same generated load, on this machine, in one
# run. Both SFUs run in a network namespace of their own (Janus's ICE stack never
# offers loopback candidates, so a veth pair stands in for the network), pinned to
# core 1; the generator runs outside, pinned to core 0 (taskset), so "SFU cores" is the
# share of that one core. Each SFU is started fresh for every run (memory figures
# then start from the same idle state), and every point is run A-B-B-A (viva, janus,
# janus, viva) and reported as the median. Writes docs/bench/results.jsonl, table.md,
# machine.txt and the SVG charts; docs/benchmarks.md quotes them.
#
#   scripts/bench-sfu.sh             # the full sweep (about 20 minutes)
#   QUICK=1 scripts/bench-sfu.sh     # one small point per workload (a smoke run)
#   POINTS="defense 1;defense 3" OUT=/tmp/b scripts/bench-sfu.sh   # chosen points
#   POINTS="floor 100000" scripts/bench-sfu.sh   # the kernel's share alone: datagrams
#       # through the SFU's send path from core 1, paced, nothing else done (floor.jsonl)
#   POINTS="tcp defense 3" scripts/bench-sfu.sh   # Viva over UDP against Viva with
#       # every endpoint over ICE-TCP ("viva-tcp"): what the firewall fallback costs
#   VIVA_B=/tmp/viva-before POINTS="defense 3" ROUNDS=3 scripts/bench-sfu.sh
#       # two Viva binaries instead of Viva and Janus (target/release/viva is "viva",
#       # VIVA_B is "viva-b"), A-B-B-A ROUNDS times: how a change is measured
set -euo pipefail
ulimit -c 0 # Janus has dumped core on SIGTERM under overload; no core files in the tree
cd "$(dirname "$0")/.."
out=${OUT:-docs/bench}
seconds=${SECONDS_PER_RUN:-8}
mkdir -p "$out"
[[ $(id -u) -eq 0 ]] || { echo "needs root (network namespace, veth pair)" >&2; exit 1; }

command -v janus >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq janus >/dev/null; }
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed" >&2; exit 1; }
cargo build --release -q -p viva -p loadgen
gen=target/release/viva-loadgen

ns=vivabench
sfu_ip=10.77.0.1
gen_ip=10.77.0.2
work=$(mktemp -d)
sfu_pid=
stop_sfu() { [[ -n $sfu_pid ]] && { kill "$sfu_pid" 2>/dev/null || true; wait "$sfu_pid" 2>/dev/null || true; }; sfu_pid=; }
cleanup() { stop_sfu; ip netns del "$ns" 2>/dev/null || true; ip link del vbh 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
ip netns del "$ns" 2>/dev/null || true
ip link del vbh 2>/dev/null || true
ip netns add "$ns"
ip link add vbh type veth peer name vbs
ip link set vbs netns "$ns"
ip addr add "$gen_ip/24" dev vbh && ip link set vbh up
ip -n "$ns" addr add "$sfu_ip/24" dev vbs && ip -n "$ns" link set vbs up && ip -n "$ns" link set lo up

password=bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')

# Janus: VideoRoom plugin and HTTP transport only, on the namespace's address, no
# session timeout (the generator does not keep sessions alive once negotiated).
lib=$(dirname "$(dirname "$(dpkg -L janus | grep '/plugins/libjanus_videoroom.so$')")")
cfg="$work/janus"; mkdir -p "$cfg"
others() { (cd "$lib/$1" && ls ./*.so | sed 's|^\./||' | grep -v "^$2$" | paste -sd, -); }
cat >"$cfg/janus.jcfg" <<JCFG
general: { configs_folder = "$cfg", plugins_folder = "$lib/plugins", transports_folder = "$lib/transports",
           events_folder = "$lib/events", loggers_folder = "$lib/loggers", debug_level = 3,
           session_timeout = 0 }
media: { rtp_port_range = "40000-49999" }
nat: { ice_enforce_list = "vbs", ignore_mdns = true }
plugins: { disable = "$(others plugins libjanus_videoroom.so)" }
transports: { disable = "$(others transports libjanus_http.so)" }
loggers: { disable = "$(others loggers none)" }
events: { broadcast = false }
JCFG
cat >"$cfg/janus.transport.http.jcfg" <<JCFG
general: { json = "compact", base_path = "/janus", http = true, port = 8088, ip = "$sfu_ip", https = false }
admin: { admin_http = false }
JCFG
echo 'general: { }' >"$cfg/janus.plugin.videoroom.jcfg"

start_sfu() { # viva | viva-b | janus
  stop_sfu
  if [[ $1 == viva* ]]; then
    local bin=target/release/viva
    [[ $1 == viva-b ]] && bin=$VIVA_B
    rm -rf "$work/viva"; mkdir -p "$work/viva"
    VIVA_HTTP__LISTEN=$sfu_ip:18080 VIVA_HTTP__PUBLIC_URL=http://$sfu_ip:18080 \
    VIVA_MEDIA__UDP_LISTEN=$sfu_ip:50100 VIVA_MEDIA__TCP_LISTEN=$sfu_ip:50100 VIVA_MEDIA__ANNOUNCE_IP=$sfu_ip \
    VIVA_DATABASE__URL="sqlite://$work/viva/viva.db" VIVA_STORAGE__DATA_DIR="$work/viva" \
    VIVA_BACKUP__DIR="$work/viva/backups" VIVA_BACKUP__EVERY_HOURS=0 VIVA_ADMIN__LISTEN=$sfu_ip:19464 \
    VIVA_AUTH__ADMIN_PASSWORD="$password" RUST_LOG=error \
      ip netns exec "$ns" taskset -c 1 "$bin" serve >>"$work/viva.log" 2>&1 &
    sfu_pid=$!; url=http://$sfu_ip:18080/healthz
  else
    ip netns exec "$ns" taskset -c 1 janus -C "$cfg/janus.jcfg" -F "$cfg" >>"$work/janus.log" 2>&1 &
    sfu_pid=$!; url=http://$sfu_ip:8088/janus/info
  fi
  for _ in $(seq 1 100); do curl -fs -o /dev/null "$url" && return 0; sleep 0.1; done
  echo "$1 did not start" >&2; tail -20 "$work/$1.log" >&2; return 1
}

run() { # target workload size
  start_sfu "$1"
  local args=(--target "$(sed -E 's/-(b|tcp)$//' <<<"$1")" --workload "$2" --size "$3" --seconds "$seconds" --warmup 4
              --bind "$gen_ip" --sfu-pid "$sfu_pid")
  if [[ $1 == viva* ]]; then
    args+=(--viva "http://$sfu_ip:18080" --password "$password"
           --viva-metrics "http://$sfu_ip:19464/metrics")
    [[ $1 == viva-tcp ]] && args+=(--tcp "$sfu_ip:50100")
  else args+=(--janus "http://$sfu_ip:8088/janus"); fi
  # The generator knows only viva and janus; the B binary's runs are relabelled.
  taskset -c 0 "$gen" "${args[@]}" | sed "s/\"target\":\"viva\"/\"target\":\"$1\"/" \
    | tee -a "$out/results.jsonl" || echo "run failed: $*" >&2
  stop_sfu
}

floor() { # rate: the kernel's share alone, the SFU's send path with nothing else to do
  taskset -c 0 "$gen" floor-receive --bind "$gen_ip:41000" --receivers 9 --seconds $((seconds + 3)) \
    >"$work/floor-received" &
  local receiver=$!
  sleep 1
  ip netns exec "$ns" taskset -c 1 "$gen" floor-send --bind "$sfu_ip:0" --to "$gen_ip:41000" \
    --receivers 9 --rate "$1" --seconds "$seconds" | tee -a "$out/floor.jsonl"
  wait "$receiver"
  echo "received: $(cat "$work/floor-received")"
}

if [[ -n ${POINTS:-} ]]; then # e.g. POINTS="defense 1;defense 3"
  IFS=';' read -r -a points <<<"$POINTS"
elif [[ -n ${QUICK:-} ]]; then
  points=("defense 1" "broadcast 50" "meeting 5")
else
  points=("floor 100000" "defense 1" "defense 2" "defense 3" "defense 4" "defense 5"
          "broadcast 50" "broadcast 100" "broadcast 200" "broadcast 300" "broadcast 500"
          "meeting 5" "meeting 10" "meeting 15" "meeting 25" "tcp defense 3" "tcp broadcast 200")
fi
: >"$out/results.jsonl"
: >"$out/floor.jsonl"
pair=(viva janus)
[[ -n ${VIVA_B:-} ]] && pair=(viva viva-b)
for point in "${points[@]}"; do
  set -- $point
  if [[ $1 == floor ]]; then floor "$2"; continue; fi
  these=("${pair[@]}")
  [[ $1 == tcp ]] && { these=(viva viva-tcp); shift; }
  for _ in $(seq 1 "${ROUNDS:-1}"); do
    for target in "${these[0]}" "${these[1]}" "${these[1]}" "${these[0]}"; do run "$target" "$1" "$2"; done
  done
done
"$gen" report "$out/results.jsonl" "$out"
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "kernel: $(uname -r); janus: $(dpkg-query -W -f='${Version}' janus); viva: $(git rev-parse --short HEAD)"
  echo "window: ${seconds} s per run after a 4 s warm-up; SFU on core 1, generator on core 0"
} >"$out/machine.txt"
cat "$out/table.md"
