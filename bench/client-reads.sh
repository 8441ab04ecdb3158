#!/usr/bin/env bash
# Linearizable reads by a .NET service: AspireCache.Client (ONE client shared by the tool's workers, as
# one service process has), with read coalescing on and off, in direct mode (its nodes the three nodes)
# and through the router; the raw per-request reader to the nodes and to the router; and etcd, all
# interleaved per round on the same box. One line per run: reads/s, p99, node (and router) CPU per read.
#   bench/client-reads.sh                         # ROUNDS=3 DURATION=10s CONNECTIONS=64 VALUE_SIZE=256 KEYS=10000
#   SKIP_BUILD=1 ROUNDS=5 bench/client-reads.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
VALUE_SIZE=${VALUE_SIZE:-256}
KEYS=${KEYS:-10000}
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/client-reads-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"

etcd_ensure_installed
bench_build
ac_start_cluster 7101 7102 7103 7100
ac_wait_leader
etcd_start_cluster 7111 7112 7113 7114 7115 7116
nodes="$(ac_node_url 1),$(ac_node_url 2),$(ac_node_url 3)"
load=(--connections "$CONNECTIONS" --keys "$KEYS" --value-size "$VALUE_SIZE")
log "preload and warm-up (20 s AspireCache, 10 s etcd)"
bench_tool --target "$nodes" "${load[@]}" --duration 20s --mix read:50,write:50 --preload --client direct >/dev/null
bench_tool --system etcd --target "$ETCD_CLIENT_URLS" "${load[@]}" --duration 10s --mix read:50,write:50 --preload >/dev/null

# run NAME SYSTEM TARGET TOOL-ARGS...: one measured run, one line
run() {
  local name=$1 system=$2 target=$3; shift 3
  local before after out ops p99 cpu cpu_us=""
  before=$(mktemp) after=$(mktemp)
  cpu_snapshot >"$before"
  out=$(bench_tool --system "$system" --target "$target" "${load[@]}" --duration "$DURATION" --warmup 2s --mix read:100 --consistency linearizable "$@" | tee "$RESULTS_DIR/$name.r$round.txt")
  cpu_snapshot >"$after"
  cpu=$(cpu_by_process "$before" "$after")
  rm -f "$before" "$after"
  ops=$(sed -n 's/.*throughput \([0-9]*\) ops.*/\1/p' <<<"$out")
  p99=$(awk '/^read /{print $8}' <<<"$out")
  # CPU over the measured duration plus the 2 s warm-up, per read.
  per_read() { awk -v ops="$ops" -v s="$((${DURATION%s} + 2))" -v name="$1" '$1 ~ name {c += $2} END {printf "%.0f", c * 1e6 / (ops * s)}' <<<"$cpu"; }
  if [[ $system == aspirecache && ${ops:-0} -gt 0 ]]; then
    cpu_us=", nodes $(per_read 'AspireCache\\.Node') µs CPU per read"
    [[ $target == "$AC_ROUTER_URL" ]] && cpu_us+=", router $(per_read 'AspireCache\\.Router') µs"
  fi
  printf '%-25s round %s: %6s reads/s, p99 %s ms%s (load %s)\n' "$name" "$round" "$ops" "$p99" "$cpu_us" "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RESULTS_DIR/summary.txt"
}

for ((round = 1; round <= ROUNDS; round++)); do
  run "direct, coalesced" aspirecache "$nodes" --client direct --coalesce-reads true
  run "direct, one GET per read" aspirecache "$nodes" --client direct --coalesce-reads false
  run "direct, raw GETs" aspirecache "$nodes" --client raw
  run "router, coalesced" aspirecache "$AC_ROUTER_URL" --client library --coalesce-reads true
  run "router, one GET per read" aspirecache "$AC_ROUTER_URL" --client library --coalesce-reads false
  run "router, raw GETs" aspirecache "$AC_ROUTER_URL" --client raw
  run "etcd" etcd "$ETCD_CLIENT_URLS"
done
log "results: $RESULTS_DIR"
