#!/usr/bin/env bash
# Issue #12's client benchmarks, AspireCache next to etcd 3.4 in the same run (Release):
#   1. Config reads: INSTANCES simulated service instances (in-process AspireCacheClients, each with
#      its own connections and near cache), READERS concurrent readers each, reading KEYS hot keys,
#      in server-only linearizable, linearizable near-cache and bounded-staleness (1 s) modes, through
#      the router and in direct mode; then etcd's linearizable reads of the same keys (64 connections,
#      the existing harness), for scale.
#   2. Propagation: one PUT to IOptionsMonitor.OnChange in INSTANCES configuration providers.
#
#   bench/config-reads.sh                                    # DURATION=10s INSTANCES=100 READERS=8 KEYS=100
#   RESULTS_DIR=/tmp/x SKIP_BUILD=1 DURATION=5s bench/config-reads.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

DURATION=${DURATION:-10s}
INSTANCES=${INSTANCES:-100}
READERS=${READERS:-8}
KEYS=${KEYS:-100}
VALUE_SIZE=${VALUE_SIZE:-64}
MODES=${MODES:-linearizable,near,bounded}
WRITES=${WRITES:-30}
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/config-reads-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

etcd_ensure_installed
bench_build

etcd_start_cluster 7221 7222 7223 7231 7232 7233
ac_start_cluster 7211 7212 7213 7210
AC_PIDS="${AC_NODE_PID[1]},${AC_NODE_PID[2]},${AC_NODE_PID[3]},$AC_ROUTER_PID"
ETCD_PIDS=$(IFS=,; echo "${ETCD_PID[*]}")
AC_NODES="$(ac_node_url 1),$(ac_node_url 2),$(ac_node_url 3)"

log "config reads through the router"
bench_tool --mode config-reads --target "$AC_ROUTER_URL" --instances "$INSTANCES" --readers "$READERS" \
  --keys "$KEYS" --value-size "$VALUE_SIZE" --duration "$DURATION" --read-modes "$MODES" --pids "$AC_PIDS" \
  | tee "$RESULTS_DIR/config-reads.router.txt"
ac_check_alive || { log "AspireCache lost a process: results are void"; exit 1; }

log "config reads in direct mode (no router)"
bench_tool --mode config-reads --target "$AC_NODES" --instances "$INSTANCES" --readers "$READERS" \
  --keys "$KEYS" --value-size "$VALUE_SIZE" --duration "$DURATION" --read-modes "$MODES" --pids "$AC_PIDS" \
  | tee "$RESULTS_DIR/config-reads.direct.txt"
ac_check_alive || { log "AspireCache lost a process: results are void"; exit 1; }

log "etcd linearizable reads of $KEYS keys (64 connections)"
bench_tool --system etcd --target "$ETCD_CLIENT_URLS" --label "config-reads/etcd" --connections 64 \
  --duration "$DURATION" --warmup 2s --value-size "$VALUE_SIZE" --keys "$KEYS" --distribution uniform \
  --mix read:100 --consistency linearizable --preload --key-prefix bench-config-etcd/ \
  | tee "$RESULTS_DIR/config-reads.etcd.txt"
etcd_check_alive || { log "etcd lost a member: results are void"; exit 1; }

log "propagation: PUT -> IOptionsMonitor.OnChange in $INSTANCES instances"
bench_tool --mode propagation --target "$AC_ROUTER_URL" --instances "$INSTANCES" --writes "$WRITES" \
  | tee "$RESULTS_DIR/propagation.txt"

log "results in $RESULTS_DIR"
