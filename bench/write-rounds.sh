#!/usr/bin/env bash
# A write's share of a replication round: starts AspireCache (3 nodes + router, Release, no telemetry), warms
# it with routed writes, then drives routed writes with wrk at each of CONNECTIONS_LIST in turn and prints,
# per connection count: writes/s, p99, errors, log entries/s (from the commit index), writes per entry, and CPU
# per write of the three nodes and the router together (from /proc; the router left out with TARGET=leader).
# A fit of CPU = w + r / (writes per entry)
# over the rows gives the cost per write (w) and per round (r): bench/README.md, session 28.
#
#   bench/write-rounds.sh                                         # CONNECTIONS_LIST="21 63 126 252" DURATION=10s WARM=40s
#   CONNECTIONS_LIST=63 AC_ROUTER_EXTRA_ENV=Router__WriteCoalescing__MaxInFlight=2 SKIP_BUILD=1 bench/write-rounds.sh
#   TARGET=leader bench/write-rounds.sh                           # straight to the leader instead of the router
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

CONNECTIONS_LIST=${CONNECTIONS_LIST:-"21 63 126 252"}
DURATION=${DURATION:-10s}
WARM=${WARM:-40s}
KEYS=${KEYS:-10000}
VALUE_SIZE=${VALUE_SIZE:-256}
TARGET=${TARGET:-router}
PORT_BASE=${PORT_BASE:-7160}
[[ $DURATION =~ ^[0-9]+s$ && $WARM =~ ^[0-9]+s$ ]] || { echo "DURATION and WARM must be whole seconds (e.g. 10s)" >&2; exit 2; }
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/write-rounds-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"

wrk_ensure_installed
bench_build
ac_start_cluster $((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)) "$PORT_BASE"
url=$AC_ROUTER_URL
if [[ $TARGET == leader ]]; then
  leader=$(ac_leader)
  url=$(ac_node_url "${leader#node}")
fi
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); writes to $url ($TARGET)"

pids=("${AC_NODE_PID[@]}")
[[ $TARGET == leader ]] || pids+=("$AC_ROUTER_PID") # the idle router is left out when wrk goes straight to the leader
cpu_ticks() { cpu_ticks_of "${pids[@]}" || { ac_check_alive; log "a process died during the run: results are void"; exit 1; }; }
commit_index() {
  local i c
  for i in 1 2 3; do
    c=$(ac_status "$i" | jq -r '.commitIndex // empty' 2>/dev/null || true)
    [[ -n $c ]] && { echo "$c"; return 0; }
  done
  log "no node answered /cluster/status"; exit 1
}
hz=$(getconf CLK_TCK)

wrk_settings aspirecache "$url" 0 true 63
log "warming up for $WARM (63 connections, not measured)"
WRK_OUT=/dev/null wrk -t3 -c63 -d"$WARM" -s "$BENCH_ROOT/bench/wrk/kv.lua" "$url" >/dev/null

ac_tmpfs_note | tee "$RESULTS_DIR/summary.txt"
printf '%-12s %10s %9s %8s %10s %12s %14s\n' connections writes/s p99_ms errors entries/s writes/entry cpu_us/write | tee -a "$RESULTS_DIR/summary.txt"
for c in $CONNECTIONS_LIST; do
  c=$((c / 3 * 3)); ((c >= 3)) || c=3
  wrk_settings aspirecache "$url" 0 true "$c"
  e0=$(commit_index) t0=$(cpu_ticks)
  WRK_OUT="$RESULTS_DIR/c$c.json" wrk -t3 -c"$c" -d"$DURATION" --latency -s "$BENCH_ROOT/bench/wrk/kv.lua" "$url" >"$RESULTS_DIR/c$c.txt"
  t1=$(cpu_ticks) e1=$(commit_index)
  ac_check_alive || { log "a process died during the run: results are void"; exit 1; }
  # Over wrk's own elapsed time and operation count (errors included in neither rate's numerator but shown).
  jq -r --argjson c "$c" --argjson e "$((e1 - e0))" --argjson t "$((t1 - t0))" --argjson hz "$hz" \
    '(.totalOperations - .totalErrors) as $ok
     | [$c, (.throughput | round), .total.p99Ms, .totalErrors, (($e / .elapsedSeconds) | round),
        (if $e > 0 then ($ok / $e | round) else "-" end), (if $ok > 0 then ($t / $hz * 1e6 / $ok | round) else "-" end)]
     | map(tostring) | join("\t")' "$RESULTS_DIR/c$c.json" |
    awk -F'\t' '{printf "%-12s %10s %9.1f %8s %10s %12s %14s\n", $1, $2, $3, $4, $5, $6, $7}' | tee -a "$RESULTS_DIR/summary.txt"
done
log "results: $RESULTS_DIR"
