#!/usr/bin/env bash
# Read or write coalescing on vs off (Router:ReadCoalescing:Enabled, Router:WriteCoalescing:Enabled),
# alternating, on the bench cluster (3 nodes + router, Release): per run a fresh cluster, 5 s warm-up
# (with preload), then 10 s measured; prints the throughput line and each process's CPU seconds during
# the measured 10 s (from /proc).
#   bench/coalescing-ab.sh                         # linearizable reads, 2 rounds
#   ROUNDS=4 CONSISTENCY=stale bench/coalescing-ab.sh
#   WRITES=1 bench/coalescing-ab.sh                # writes (write coalescing on vs off)
#   AC_NODE_EXTRA_ENV=… AC_ROUTER_EXTRA_ENV=…       # e.g. OTEL_* for tracing, Auth__* for authentication
#   VARIANT_A="DOTNET_gcServer=0" VARIANT_B="" WRITES=1 bench/coalescing-ab.sh
#                                                  # any two environments instead (nodes and router alike)
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

ROUNDS=${ROUNDS:-2}
CONSISTENCY=${CONSISTENCY:-linearizable}
if [[ -n "${WRITES:-}" ]]; then setting=WriteCoalescing mix=write:100 what=writes; else setting=ReadCoalescing mix=read:100 what=$CONSISTENCY; fi
base_router_env=${AC_ROUTER_EXTRA_ENV:-}
base_node_env=${AC_NODE_EXTRA_ENV:-}
bench_build
export SKIP_BUILD=1
tmp=$(mktemp -d)
for ((r = 1; r <= ROUNDS; r++)); do
  for variant in A B; do
    if [[ -n "${VARIANT_A+set}" ]]; then
      [[ $variant == A ]] && extra=${VARIANT_A} || extra=${VARIANT_B:-}
      AC_ROUTER_EXTRA_ENV="$base_router_env $extra" AC_NODE_EXTRA_ENV="$base_node_env $extra" label="[$extra]"
    else
      [[ $variant == A ]] && enabled=true || enabled=false
      AC_ROUTER_EXTRA_ENV="$base_router_env Router__${setting}__Enabled=$enabled" label="coalescing $enabled"
    fi
    ac_start_cluster 7191 7192 7193 7190
    bench_tool --system aspirecache --target "$AC_ROUTER_URL" --label warm --connections 64 --duration 5s --warmup 0 \
      --value-size 256 --keys 10000 --distribution uniform --mix "$mix" --consistency "$CONSISTENCY" --preload >/dev/null
    cpu_snapshot >"$tmp/c0"
    echo "round $r, $label ($what; load $(cut -d' ' -f1 /proc/loadavg)):"
    bench_tool --system aspirecache --target "$AC_ROUTER_URL" --label run --connections 64 --duration 10s --warmup 0 \
      --value-size 256 --keys 10000 --distribution uniform --mix "$mix" --consistency "$CONSISTENCY" | grep -E "^(read|write)|measured"
    cpu_snapshot >"$tmp/c1"
    cpu_by_process "$tmp/c0" "$tmp/c1" | grep -E "AspireCache\.(Node|Router)"
    bench_cleanup
    BENCH_TMP=""  # a fresh data directory for the next cluster
  done
done
