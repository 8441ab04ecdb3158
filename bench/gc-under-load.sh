#!/usr/bin/env bash
# The GC under load: starts AspireCache (3 nodes + router, Release), drives the 50/50 mix of bench/stability.sh
# (writes and linearizable reads through the router; every routed write carries an Idempotency-Key, so the
# replicated exactly-once table fills up to its bound) for DURATION (default 200s), with `dotnet-counters`
# reading each node's System.Runtime meter once a second. Prints, per node: the worst GC pause within one
# second, the seconds with more than PAUSE_MS (50) of GC pause, gen2 collections, the largest working set and
# large-object heap; and the load's throughput, p99.9 and max latency. This is how bench/README.md's session-27
# GC figures were taken (there with an ad-hoc script).
#
#   bench/gc-under-load.sh                                     # DURATION=200s CONNECTIONS=64 MIX=read:50,write:50
#   DURATION=60s SKIP_BUILD=1 bench/gc-under-load.sh
# Needs dotnet-counters on PATH or in COUNTERS (`dotnet tool install -g dotnet-counters`).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
counter_pids=()
# stop_counters: ends the dotnet-counters runs and waits for them (their CSV rows are written as they go; a
# background job ignores SIGINT). Only those: a bare `wait` would wait for the cluster's processes too.
stop_counters() {
  ((${#counter_pids[@]})) || return 0
  kill -TERM "${counter_pids[@]}" 2>/dev/null || true
  wait "${counter_pids[@]}" 2>/dev/null || true
  counter_pids=()
}
trap 'stop_counters; bench_cleanup' EXIT
trap 'exit 130' INT TERM

mixed_load_defaults 200s # DURATION CONNECTIONS VALUE_SIZE KEYS MIX (lib.sh)
PAUSE_MS=${PAUSE_MS:-50}
PORT_BASE=${PORT_BASE:-7170}
COUNTERS=${COUNTERS:-$(command -v dotnet-counters || echo "$HOME/.dotnet/tools/dotnet-counters")}
[[ -x "$COUNTERS" ]] || { echo "dotnet-counters not found: dotnet tool install -g dotnet-counters (or COUNTERS=path)" >&2; exit 2; }
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/gc-under-load-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

bench_build
ac_start_cluster $((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)) "$PORT_BASE"
for i in 1 2 3; do
  "$COUNTERS" collect -p "${AC_NODE_PID[$i]}" --format csv -o "$RESULTS_DIR/node$i.csv" --refresh-interval 1 \
    --counters System.Runtime >"$RESULTS_DIR/node$i.counters.log" 2>&1 &
  counter_pids+=($!)
done
log "dotnet-counters on the nodes (${AC_NODE_PID[*]}); ${DURATION} of ${MIX} at ${CONNECTIONS} connections, leader $(ac_leader)"
mixed_load gc-under-load "$RESULTS_DIR/load.json" >"$RESULTS_DIR/load.txt"
alive=1
ac_check_alive || { alive=0; log "a process died during the run: the numbers are void"; }
stop_counters

{
  echo "== GC under load: ${DURATION} of ${MIX} through the router, ${CONNECTIONS} connections, ${KEYS} keys of ${VALUE_SIZE} B"
  printf '%-6s %18s %16s %6s %16s %12s\n' node worst_pause_ms/s "s_over_${PAUSE_MS}ms" gen2 max_working_MB max_loh_MB
  for i in 1 2 3; do
    f="$RESULTS_DIR/node$i.csv"
    [[ -s "$f" ]] || { printf '%-6s (no counters: see %s)\n' "node$i" "$RESULTS_DIR/node$i.counters.log"; continue; }
    # csv: Timestamp,Provider,Counter Name,Counter Type,Mean/Increment
    awk -F, -v node="node$i" -v limit="$PAUSE_MS" '
      # the value is the last column; names are matched on the whole line (a timestamp may hold a comma)
      /,dotnet\.gc\.pause\.time / { ms = $NF * 1000; if (ms > worst) worst = ms; if (ms > limit) over++ }
      /,dotnet\.gc\.collections .*gen2/ { gen2 += $NF }
      /,dotnet\.process\.memory\.working_set / { if ($NF > ws) ws = $NF }
      /,dotnet\.gc\.last_collection\.heap\.size .*loh/ { if ($NF > loh) loh = $NF }
      END { printf "%-6s %18.0f %16d %6d %16.0f %12.0f\n", node, worst, over, gen2, ws / 1048576, loh / 1048576 }' "$f"
  done
  jq -r '"load: \(.throughput | floor) ops/s, p99.9 \(.total.p999Ms) ms, max \(.total.maxMs) ms, errors \(.totalErrors)"' "$RESULTS_DIR/load.json"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RESULTS_DIR/summary.txt"
log "results: $RESULTS_DIR"
((alive)) || exit 1
