#!/usr/bin/env bash
# Watch: delivery latency and fan-out, AspireCache (3 nodes + router, GET /cache/watch, Server-Sent
# Events) vs etcd 3.4 (3 members, POST /v3/watch on the JSON gateway), same machine, same tool.
# For each watcher count W: open W watch streams on one prefix, measure the servers' RSS per idle
# stream, write 8-byte sequence numbers at a fixed rate (open loop) and time every delivery.
#
#   bench/watch.sh                                  # WATCHERS="1 100 1000 10000" DURATION=20s WRITE_RATE=10
#   WATCHERS="1 100" DURATION=10s bench/watch.sh
#   ROUTER_MAX=10000 bench/watch.sh                 # AspireCache through the router at every count
#   RESULTS_DIR=/tmp/x SKIP_BUILD=1 bench/watch.sh
#
# AspireCache: streams through the router for W <= ROUTER_MAX (default 1000; writes through the router
# too), straight to the three nodes (round-robin) above it (writes to the leader). etcd: streams spread
# over its three members, writes to the first. Memory = sum of VmRSS of the nodes / members (the router
# is reported separately). Runs go in ascending W, so a run may reuse memory an earlier one freed: the
# per-stream figure is a lower bound, most trustworthy at the largest W.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

WATCHERS=${WATCHERS:-"1 100 1000 10000"}
DURATION=${DURATION:-20s}
WRITE_RATE=${WRITE_RATE:-10}
VALUE_SIZE=${VALUE_SIZE:-64}
KEY_PREFIX=${KEY_PREFIX:-bench/w/}
ROUTER_MAX=${ROUTER_MAX:-1000}
OPEN_PARALLELISM=${OPEN_PARALLELISM:-64}
DRAIN=${DRAIN:-10s}          # how long after the last write events may still arrive (later = missing)
WARM=${WARM:-1}              # an unmeasured 10-watcher run on each system first (JIT, first-use allocations); 0 to skip
SYSTEMS=${SYSTEMS:-"aspirecache etcd"}
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/watch-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"

# One socket per stream on each side: the tool, the router and the servers all inherit this limit.
hard=$(ulimit -Hn)
want=20000
[[ "$hard" != unlimited && "$hard" -lt "$want" ]] && want=$hard
ulimit -n "$want"
log "open files per process: $(ulimit -n); load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

etcd_ensure_installed
bench_build

etcd_start_cluster 7121 7122 7123 7131 7132 7133
ac_start_cluster 7111 7112 7113 7110
AC_NODES="$(ac_node_url 1),$(ac_node_url 2),$(ac_node_url 3)"
AC_PIDS="${AC_NODE_PID[1]},${AC_NODE_PID[2]},${AC_NODE_PID[3]}"
ETCD_PIDS="${ETCD_PID[e1]},${ETCD_PID[e2]},${ETCD_PID[e3]}"
ETCD_FIRST=${ETCD_CLIENT_URLS%%,*}

# Raft term of every node: a change across a run means an election happened during it.
ac_terms() { local i; for i in 1 2 3; do ac_status "$i" | jq -r '.term // "?"'; done | sort -u | tr '\n' ' '; }

run() { # run NAME SYSTEM ARGS...   (results in $RESULTS_DIR/NAME.{json,txt,load,terms})
  local name=$1 system=$2 before
  shift 2
  log "run $name"
  # The machine is shared: note how busy it was when the run started (1-minute load average).
  cut -d' ' -f1 /proc/loadavg >"$RESULTS_DIR/$name.load"
  before=$(ac_terms)
  bench_tool --mode watch --system "$system" --label "$name" --duration "$DURATION" \
    --write-rate "$WRITE_RATE" --value-size "$VALUE_SIZE" --key-prefix "$KEY_PREFIX" \
    --open-parallelism "$OPEN_PARALLELISM" --drain "$DRAIN" --json "$RESULTS_DIR/$name.json" "$@" |
    tee "$RESULTS_DIR/$name.txt" || log "run $name failed (exit ${PIPESTATUS[0]})"
  echo "AspireCache term ${before}→ $(ac_terms)" >"$RESULTS_DIR/$name.terms"
  ac_check_alive || { log "AspireCache lost a process during $name: results are void"; exit 1; }
  etcd_check_alive || { log "etcd lost a member during $name: results are void"; exit 1; }
  sleep 2 # let the servers notice the closed streams before the next run measures memory
}

if [[ "$WARM" != 0 ]]; then
  log "warm-up (not measured): 10 watchers on each system"
  bench_tool --mode watch --system aspirecache --watchers 10 --target "$AC_ROUTER_URL" --duration 5s \
    --key-prefix "$KEY_PREFIX" --value-size "$VALUE_SIZE" >"$RESULTS_DIR/warm-up.aspirecache.log" || true
  bench_tool --mode watch --system etcd --watchers 10 --target "$ETCD_CLIENT_URLS" --duration 5s \
    --key-prefix "$KEY_PREFIX" --value-size "$VALUE_SIZE" >"$RESULTS_DIR/warm-up.etcd.log" || true
fi

names=()
for w in $WATCHERS; do
  for sys in $SYSTEMS; do
    if [[ $sys == aspirecache ]]; then
      if ((w <= ROUTER_MAX)); then
        name="w$w.aspirecache-router"
        run "$name" aspirecache --watchers "$w" --target "$AC_ROUTER_URL" --write-target "$AC_ROUTER_URL" \
          --target-kind router --pids "$AC_PIDS" --proxy-pids "$AC_ROUTER_PID"
      else
        leader=$(ac_leader)
        name="w$w.aspirecache-nodes"
        run "$name" aspirecache --watchers "$w" --target "$AC_NODES" \
          --write-target "$(ac_node_url "${leader#node}")" --target-kind nodes --pids "$AC_PIDS"
      fi
    else
      name="w$w.etcd"
      run "$name" etcd --watchers "$w" --target "$ETCD_CLIENT_URLS" --write-target "$ETCD_FIRST" \
        --target-kind members --pids "$ETCD_PIDS"
    fi
    names+=("$name")
  done
done

# ---- table --------------------------------------------------------------------------------
summary="$RESULTS_DIR/summary.md"
{
  echo "Watch latency and fan-out — $(nproc) cores, ${WRITE_RATE} writes/s for ${DURATION}, ${VALUE_SIZE}-byte values, etcd $(etcd --version | awk 'NR == 1 {print $3}')"
  echo
  echo "| W | system | path | p50 ms | p99 ms | max ms | delivered / expected | events/s | bytes per idle watcher | open s | errors | load |"
  echo "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for name in "${names[@]}"; do
    f="$RESULTS_DIR/$name.json"
    if [[ ! -f "$f" ]]; then
      echo "| ${name%%.*} | ${name#*.} | — | — | — | — | no result | — | — | — | — | $(cat "$RESULTS_DIR/$name.load") |"
      continue
    fi
    jq -r --arg load "$(cat "$RESULTS_DIR/$name.load")" '
      "| \(.watchers) | \(.system) | \(.path) | \(.latencyAfterAck.p50Ms * 100 | round / 100) | \(.latencyAfterAck.p99Ms * 100 | round / 100) | \(.latencyAfterAck.maxMs * 10 | round / 10) | \(.eventsDelivered) / \(.eventsExpected) | \(.eventsPerSecond | round) | \(.bytesPerIdleWatcher | round)\(if .proxyBytesPerIdleWatcher != 0 then " (+router \(.proxyBytesPerIdleWatcher | round))" else "" end) | \(.openSeconds * 100 | round / 100) | \([.errors[]] | add // 0) | \($load) |"' "$f"
  done
  echo
  echo "Latency = event received by the watcher − write acknowledged to the writer (0 if the event came first)."
  echo
  for name in "${names[@]}"; do
    f="$RESULTS_DIR/$name.json"
    [[ -f "$f" ]] || continue
    jq -r '"- \(.label): opened \(.opened)/\(.watchers), writes acked \(.writesAcknowledged)/\(.writesSent) (write p99 \(.writeP99Ms) ms), latency after send p50/p99/max \(.latencyAfterSend.p50Ms)/\(.latencyAfterSend.p99Ms)/\(.latencyAfterSend.maxMs) ms, before-ack \(.eventsBeforeAck), missing \(.eventsMissing) on \(.streamsMissingEvents) streams, duplicates \(.duplicates), client CPU \(.clientCpuPercent | round)%, servers CPU \(.serverCpuPercent | round)%, bytes per idle watcher \(.bytesPerIdleWatcher | round), open p99 \(.openP99Ms | round) ms\(if (.errors | length) > 0 then ", errors: " + (.errors | to_entries | map("\(.key)=\(.value)") | join("; ")) else "" end)"' "$f"
    [[ $name == *aspirecache* ]] && echo "  - $(cat "$RESULTS_DIR/$name.terms")"
    grep '^  via ' "$RESULTS_DIR/$name.txt" | sed 's/^  /  - /' || true
  done
  true
} | tee "$summary"

echo
column -t -s '|' <(grep '^| ' "$summary" | grep -v -- '---' | sed 's/^| //; s/ |$//') || true
log "results: $RESULTS_DIR"
