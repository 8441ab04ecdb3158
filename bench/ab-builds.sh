#!/usr/bin/env bash
# A/B of two builds (or two settings) of AspireCache on the same workloads, alternating A B A B… so
# that drift and run order hit both alike. Each round starts a fresh cluster (3 nodes + router) per build.
#   BASE_DIR=/tmp/base bench/ab-builds.sh          # BASE_DIR: a checkout with Release builds of Node and Router
#   ROUNDS=2 DURATION=10s WORKLOADS="writes reads stale mix" bench/ab-builds.sh   # stale: reads with consistent=false; mix: 50/50
#   HEAD_EXTRA_ENV="DOTNET_gcServer=0" bench/ab-builds.sh   # no BASE_DIR: this build twice, the "head" runs
#                                                           # with these NAME=value settings on nodes and router
#                                                           # (BASE_EXTRA_ENV likewise for "base")
#   WARM_CLUSTER=60s bench/ab-builds.sh                     # unmeasured 50/50 load on each fresh cluster first
#                                                           # (default 0; a fresh cluster is cold for 30-45 s)
# Prints one line per run (operations/s, p50, p99 and errors over all kinds of operation; also in $RESULTS_DIR/summary.txt).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

BASE_DIR=${BASE_DIR:-}
BASE_EXTRA_ENV=${BASE_EXTRA_ENV:-} HEAD_EXTRA_ENV=${HEAD_EXTRA_ENV:-}
[[ -n "$BASE_DIR" || "$BASE_EXTRA_ENV" != "$HEAD_EXTRA_ENV" ]] || { echo "set BASE_DIR (a checkout with Release builds of AspireCache.Node and AspireCache.Router) or different BASE_EXTRA_ENV/HEAD_EXTRA_ENV" >&2; exit 2; }
ROUNDS=${ROUNDS:-2}
DURATION=${DURATION:-10s}
WORKLOADS=${WORKLOADS:-"writes reads"}
WARM_CLUSTER=${WARM_CLUSTER:-0}
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/ab-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
bench_build
HEAD_NODE=$AC_NODE_DLL HEAD_ROUTER=$AC_ROUTER_DLL
BASE_NODE=${BASE_DIR:+$BASE_DIR/AspireCache.Node/bin/Release/net10.0/AspireCache.Node.dll}
BASE_ROUTER=${BASE_DIR:+$BASE_DIR/AspireCache.Router/bin/Release/net10.0/AspireCache.Router.dll}
BASE_NODE=${BASE_NODE:-$HEAD_NODE} BASE_ROUTER=${BASE_ROUTER:-$HEAD_ROUTER}

args_for() {
  case $1 in
    writes) echo "--mix write:100" ;;
    reads) echo "--mix read:100 --consistency linearizable --preload" ;;
    stale) echo "--mix read:100 --consistency stale --preload" ;;
    mix) echo "--mix read:50,write:50 --consistency linearizable --preload" ;;  # bench/stability.sh's load
  esac
}

for round in $(seq 1 "$ROUNDS"); do
  for build in base head; do
    if [[ $build == base ]]; then
      AC_NODE_DLL=$BASE_NODE AC_ROUTER_DLL=$BASE_ROUTER AC_NODE_EXTRA_ENV=$BASE_EXTRA_ENV AC_ROUTER_EXTRA_ENV=$BASE_EXTRA_ENV
    else
      AC_NODE_DLL=$HEAD_NODE AC_ROUTER_DLL=$HEAD_ROUTER AC_NODE_EXTRA_ENV=$HEAD_EXTRA_ENV AC_ROUTER_EXTRA_ENV=$HEAD_EXTRA_ENV
    fi
    ac_start_cluster 7141 7142 7143 7140
    bench_warm_up aspirecache "$AC_ROUTER_URL" "$WARM_CLUSTER" "$RESULTS_DIR/warm-up.$build.$round.log"
    for w in $WORKLOADS; do
      read -r -a args <<<"$(args_for "$w")"
      bench_tool --system aspirecache --target "$AC_ROUTER_URL" --label "$w/$build/$round" --connections 64 \
        --duration "$DURATION" --warmup 2s --value-size 256 --keys 10000 --distribution uniform \
        --json "$RESULTS_DIR/$w.$build.$round.json" "${args[@]}" >"$RESULTS_DIR/$w.$build.$round.txt"
      printf '%s %s round %s: %s (load %s)\n' "$w" "$build" "$round" \
        "$(jq -r '"\(.throughput | floor)/s p50 \(.total.p50Ms) ms p99 \(.total.p99Ms) ms errors \(.totalErrors)"' "$RESULTS_DIR/$w.$build.$round.json")" \
        "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$RESULTS_DIR/summary.txt"
    done
    bench_cleanup
  done
done
log "results: $RESULTS_DIR"
