#!/usr/bin/env bash
# Elections under load, no faults: starts AspireCache (3 nodes + router, Release), drives a 50/50 mix of
# writes and linearizable reads through the router for DURATION (default 5 min) and counts elections
# (term changes) and leader changes. Also reports, per node, the longest time it went without an
# AppendEntries from its leader (`longestLeaderSilenceMs` in /cluster/status): a follower starts an
# election when that exceeds its election timeout, so the margin between the two is the point.
#
#   bench/stability.sh                                            # DURATION=5m CONNECTIONS=64, node defaults
#   LOWER=150 UPPER=300 bench/stability.sh                         # election timeouts to test (ms)
#   LOWER=150 UPPER=300 HEARTBEAT=0.25 DURATION=60s bench/stability.sh
# Exit code: 1 when an election happened.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

mixed_load_defaults 5m # DURATION CONNECTIONS VALUE_SIZE KEYS MIX (lib.sh)
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/stability-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

extra=""
[[ -n "${LOWER:-}" ]] && extra+=" Cluster__LowerElectionTimeoutMs=$LOWER"
[[ -n "${UPPER:-}" ]] && extra+=" Cluster__UpperElectionTimeoutMs=$UPPER"
[[ -n "${HEARTBEAT:-}" ]] && extra+=" Cluster__HeartbeatThreshold=$HEARTBEAT"
AC_NODE_EXTRA_ENV="${AC_NODE_EXTRA_ENV:-}$extra"

bench_build
ac_start_cluster 7151 7152 7153 7150

terms() { local i; for i in 1 2 3; do ac_status "$i" 3 | jq -r '.term // "?"'; done | tr '\n' ' '; }
leader_before=$(ac_leader) terms_before=$(terms)
log "leader $leader_before, terms $terms_before; ${DURATION} of ${MIX} at ${CONNECTIONS} connections"

mixed_load stability "$RESULTS_DIR/stability.json" | tee "$RESULTS_DIR/stability.txt"
ac_check_alive || log "a process died during the run: the numbers are void"

leader_after=$(ac_leader) terms_after=$(terms)
first=$(awk '{print $1}' <<<"$terms_before") last=$(awk '{print $1}' <<<"$terms_after")
elections=$((last - first))
{
  echo
  echo "== stability: ${DURATION}, ${MIX}, ${CONNECTIONS} connections, election timeouts ${LOWER:-default}-${UPPER:-default} ms, heartbeat threshold ${HEARTBEAT:-default}"
  echo "terms before: ${terms_before}(leader $leader_before) — after: ${terms_after}(leader $leader_after)"
  echo "elections (term changes seen by node1): $elections"
  for i in 1 2 3; do
    printf 'node%s: longest time without an AppendEntries from the leader: %s ms\n' "$i" "$(ac_status "$i" 3 | jq -r '.longestLeaderSilenceMs // "n/a"')"
  done
  echo "throughput: $(jq -r '.throughput | floor' "$RESULTS_DIR/stability.json") ops/s, errors: $(jq -r .totalErrors "$RESULTS_DIR/stability.json")"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RESULTS_DIR/summary.txt"
log "results: $RESULTS_DIR"
[[ "$elections" == 0 ]]
