#!/usr/bin/env bash
# AspireCache (3 nodes + router) vs etcd 3.4 (3 members, v3 JSON gateway), same machine, same load generator,
# same workloads, one after the other:
#   writes only · linearizable reads · stale/serializable reads · 90/10 read/write mix
# 64 connections, 256-byte values, 10,000 keys (uniform), fixed duration.
#
#   bench/compare-etcd.sh                          # DURATION=10s WARMUP=2s
#   DURATION=5s bench/compare-etcd.sh
#   AC_DIRECT=1 bench/compare-etcd.sh              # also AspireCache reads straight to the nodes (no router)
#   WARM_CLUSTER=0 bench/compare-etcd.sh           # skip the 60 s unmeasured warm-up of each system
#   AC_EXTRA_TOOL_ARGS="--client library" bench/compare-etcd.sh   # AspireCache driven by AspireCache.Client (one shared by the workers)
#   LOADGEN=tool bench/compare-etcd.sh              # raw requests from the bench tool (.NET) instead of wrk, the default
#                                                  # (wrk: bench/wrk/kv.lua, 3 threads, 63 connections; the tool preloads)
#   WORKLOADS="writes linearizable-reads" bench/compare-etcd.sh   # only these of the four (stale reads need linearizable-reads' preload)
#   ROUNDS=5 WORKLOADS=writes bench/compare-etcd.sh        # each workload 5 times on both, alternating who goes first; per round and medians
#   RESULTS_DIR=/tmp/x SKIP_BUILD=1 bench/compare-etcd.sh
#
# AspireCache is driven through its router (writes → leader, reads → nearest node); etcd through all
# three client URLs (each worker sticks to one; any member accepts writes and forwards to its leader).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

compare_defaults   # DURATION WARMUP WARM_CLUSTER CONNECTIONS VALUE_SIZE KEYS ROUNDS (lib.sh)
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

etcd_ensure_installed
if loadgen_is_wrk; then wrk_ensure_installed; fi
bench_build

etcd_start_cluster 7121 7122 7123 7131 7132 7133
ac_start_cluster 7111 7112 7113 7110
AC_NODES="$(ac_node_url 1),$(ac_node_url 2),$(ac_node_url 3)"

# The warm-up, the workloads (COMPARE_WORKLOADS), the runs and the summary are shared with
# compare-apphost.sh: compare_* in lib.sh.
compare_warm_up
compare_workloads
compare_summary "AspireCache vs etcd $(etcd --version | awk 'NR == 1 {print $3}') — $(nproc) cores, ${CONNECTIONS} connections, ${VALUE_SIZE}-byte values, ${KEYS} keys, ${DURATION} per run (+${WARMUP} warmup)"
log "results: $RESULTS_DIR"
