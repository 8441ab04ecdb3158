#!/usr/bin/env bash
# Where linearizable reads are cheapest: the same load (64 connections, 10 s, no router) sent straight to
# the three nodes (spread) and straight to the leader, alternating ROUNDS times on one cluster, with the
# nodes' CPU per read from /proc. It backs Router:LinearizableReadsToLeader (README, "Configuration").
#
#   bench/read-targets.sh                     # ROUNDS=2 DURATION=10s CONNECTIONS=64
#   SKIP_BUILD=1 ROUNDS=3 bench/read-targets.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

bench_build
ac_start_cluster 7211 7212 7213 7210
leader=$(ac_leader)
spread="$(ac_node_url 1),$(ac_node_url 2),$(ac_node_url 3)"
bench_tool --target "$AC_ROUTER_URL" --mix read:50,write:50 --consistency linearizable --preload \
  --connections "$CONNECTIONS" --duration 5s --label warm-up >/dev/null

before=$(mktemp) after=$(mktemp)
for ((r = 1; r <= ROUNDS; r++)); do
  for target in spread leader; do
    url=$spread
    [[ $target == leader ]] && url=$(ac_node_url "${leader#node}")
    cpu_snapshot >"$before"
    result=$(bench_tool --target "$url" --mix read:100 --consistency linearizable --connections "$CONNECTIONS" \
      --duration "$DURATION" --warmup 0 --label "$target" | grep '^read ')
    cpu_snapshot >"$after"
    node_cpu=$(cpu_by_process "$before" "$after" | awk '$1 ~ /AspireCache\.Node/ {print $2}')
    echo "$result" | awk -v t="$target" -v r="$r" -v cpu="$node_cpu" \
      '{printf "round %s, %-20s %6d reads/s, p99 %s ms, node CPU %.0f µs per read\n", r, t == "leader" ? "the leader only:" : "all three nodes:", $3, $8, cpu * 1e6 / $2}'
  done
done
rm -f "$before" "$after"
