#!/usr/bin/env bash
# Starts or stops a throwaway PostgreSQL cluster for the tests, listening only on a Unix
# socket inside its own directory (no TCP port, nothing shared with a system cluster).
#   scripts/pg-test-cluster.sh start <dir>   prints the connection URL on stdout
#   scripts/pg-test-cluster.sh stop <dir>
set -euo pipefail
action=${1:?start or stop}
dir=${2:?directory}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -x "$bin/initdb" ]] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
  # initdb and postgres refuse to run as root: use the postgres account then.
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c fsync=off -c max_connections=200" start >/dev/null
    echo "postgres:///postgres?host=$dir&user=postgres"
    ;;
  stop)
    [[ -d "$dir/data" ]] && as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "unknown action $action" >&2; exit 2 ;;
esac
