#!/usr/bin/env bash
# Where the read tail comes from: the bench cluster (3 nodes + router, Release, no telemetry) under a steady
# wrk read load through the router, and beside it the tool's probe mode (AspireCache.Bench --mode probe):
# one thread per target and path sending GETs one after another — the router, the leader and a follower,
# each with a linearizable and a stale read. It prints each probe's p50/p99/max, its stalls (requests slower
# than STALL) and how many of them overlapped a stall of another probe.
#
#   bench/stalls.sh                                   # WRK_CONNECTIONS=15 DURATION=10s STALL=20ms
#   WRK_CONNECTIONS=63 bench/stalls.sh                # the comparison's load (63 wrk connections)
#   WRK_CONNECTIONS=0 bench/stalls.sh                 # probes only, no background load
#   AC_NODE_EXTRA_ENV="DOTNET_gcServer=0" SKIP_BUILD=1 bench/stalls.sh   # a variant (nodes; AC_ROUTER_EXTRA_ENV: router)
#   WRK_CONNECTIONS=0 PROBE_TARGETS=leader PAUSE_FOLLOWER_MS=30 bench/stalls.sh
#                                                     # only the leader probed, while the follower is paused
#                                                     # (SIGSTOP) for 30 ms every ~0.5 s: does one slow
#                                                     # follower hold the leader's read index?
# PROBE_TARGETS: any of router, leader, follower (comma-separated; default all three). DURATION in seconds.
#
# Reading it: a stall that every probe shares (stale reads, other processes) is the box or a whole
# process pausing; one only the linearizable probes share is on the read-index path (its round or the
# hops around it); one a single probe has is that path alone. The probes' own threads are dedicated and
# synchronous, so the tool adds no thread-pool wake-up of its own. Everything runs in this script's
# session: a cluster in another session is scheduled as another group (autogroup; bench/README.md, session 26).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

DURATION=${DURATION:-10s}
STALL=${STALL:-20ms}
KEYS=${KEYS:-10000}
VALUE_SIZE=${VALUE_SIZE:-256}
WRK_CONNECTIONS=${WRK_CONNECTIONS:-15}
WARM=${WARM:-20s}
PORT_BASE=${PORT_BASE:-7140}
PROBE_TARGETS=${PROBE_TARGETS:-router,leader,follower}
PAUSE_FOLLOWER_MS=${PAUSE_FOLLOWER_MS:-0}
[[ $DURATION =~ ^[0-9]+s$ ]] || { echo "DURATION must be whole seconds (e.g. 10s), not '$DURATION'" >&2; exit 2; }

(( WRK_CONNECTIONS == 0 )) || wrk_ensure_installed
bench_build
ac_start_cluster $((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)) "$PORT_BASE"
leader=$(ac_leader)
leader_i=${leader#node} follower_i=$(( ${leader#node} % 3 + 1 ))
log "leader node$leader_i, probed follower node$follower_i; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# The keys (every probe reads hits) and a warm cluster (JIT tiers, connections): the tool's preload, then reads.
bench_tool --target "$AC_ROUTER_URL" --label stalls/preload --connections 64 --duration "$WARM" --warmup 0 \
  --value-size "$VALUE_SIZE" --keys "$KEYS" --mix read:100 --preload >/dev/null

dur_s=${DURATION%s}
if (( WRK_CONNECTIONS > 0 )); then
  wrk_settings aspirecache "$AC_ROUTER_URL" 100 true "$WRK_CONNECTIONS"
  export WRK_OUT=/dev/null
  threads=$(( WRK_CONNECTIONS < 3 ? WRK_CONNECTIONS : 3 ))
  wrk -t"$threads" -c"$WRK_CONNECTIONS" -d"$((dur_s + 3))s" -s "$BENCH_ROOT/bench/wrk/kv.lua" "$AC_ROUTER_URL" \
    >"$AC_DATA_ROOT/wrk.txt" &
  BENCH_PIDS+=("$!")
  sleep 1
fi

targets=""
for t in ${PROBE_TARGETS//,/ }; do
  case $t in
    router) url=$AC_ROUTER_URL ;;
    leader) url=$(ac_node_url "$leader_i") ;;
    follower) url=$(ac_node_url "$follower_i") ;;
    *) echo "PROBE_TARGETS: router, leader or follower, not '$t'" >&2; exit 2 ;;
  esac
  targets+="${targets:+,}$url"
done

pauser=""
if (( PAUSE_FOLLOWER_MS > 0 )); then
  # The follower stopped for PAUSE_FOLLOWER_MS every ~0.5 s while the probes run, and always resumed.
  (
    trap 'kill -CONT "${AC_NODE_PID[$follower_i]}" 2>/dev/null' EXIT
    end=$((SECONDS + dur_s))
    while ((SECONDS < end)); do
      kill -STOP "${AC_NODE_PID[$follower_i]}"
      sleep "$(awk -v ms="$PAUSE_FOLLOWER_MS" 'BEGIN { print ms / 1000 }')"
      kill -CONT "${AC_NODE_PID[$follower_i]}"
      sleep 0.5
    done
  ) &
  pauser=$!
fi

echo "load: ${WRK_CONNECTIONS} wrk connections of linearizable GETs through the router; probes ($PROBE_TARGETS) for $DURATION, stall > $STALL$( ((PAUSE_FOLLOWER_MS > 0)) && echo "; node$follower_i paused ${PAUSE_FOLLOWER_MS} ms every ~0.5 s")"
# A large gen0 budget keeps the probing process's own collections rare; a request that spans one anyway is left
# out of the figures and counted in the "own GC" column.
DOTNET_GCgen0size=0x40000000 bench_tool --mode probe --target "$targets" --keys "$KEYS" --duration "$DURATION" --stall "$STALL"
[[ -z "$pauser" ]] || wait "$pauser" || true
if (( WRK_CONNECTIONS > 0 )); then
  wait "${BENCH_PIDS[-1]}" || true
  grep -E "Requests/sec|Latency" "$AC_DATA_ROOT/wrk.txt" | sed 's/^/wrk: /'
fi
