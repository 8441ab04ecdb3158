#!/usr/bin/env bash
# AspireCache (3 nodes + router) vs etcd 3.4 (3 members, v3 JSON gateway), same machine, same tool,
# same workloads, one after the other:
#   writes only · linearizable reads · stale/serializable reads · 90/10 read/write mix
# 64 connections, 256-byte values, 10,000 keys (uniform), fixed duration.
#
#   bench/compare-etcd.sh                          # DURATION=10s WARMUP=2s
#   DURATION=5s bench/compare-etcd.sh
#   AC_DIRECT=1 bench/compare-etcd.sh              # also AspireCache reads straight to the nodes (no router)
#   WARM_CLUSTER=0 bench/compare-etcd.sh           # skip the 20 s unmeasured warm-up of each system
#   RESULTS_DIR=/tmp/x SKIP_BUILD=1 bench/compare-etcd.sh
#
# AspireCache is driven through its router (writes → leader, reads → nearest node); etcd through all
# three client URLs (each worker sticks to one; any member accepts writes and forwards to its leader).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
WARM_CLUSTER=${WARM_CLUSTER:-20s}   # unmeasured 50/50 load on each system first (JIT, pools, WAL); 0 to skip
CONNECTIONS=${CONNECTIONS:-64}
VALUE_SIZE=${VALUE_SIZE:-256}
KEYS=${KEYS:-10000}
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

etcd_ensure_installed
bench_build

etcd_start_cluster 7121 7122 7123 7131 7132 7133
ac_start_cluster 7111 7112 7113 7110
AC_NODES="$(ac_node_url 1),$(ac_node_url 2),$(ac_node_url 3)"

# A freshly started AspireCache cluster writes 3-5x slower during its first ~20 s under load; give
# both systems the same unmeasured warm-up so the first workload is not penalised.
if [[ "$WARM_CLUSTER" != 0 && "$WARM_CLUSTER" != 0s ]]; then
  for sys in aspirecache etcd; do
    targets=$AC_ROUTER_URL
    [[ $sys == etcd ]] && targets=$ETCD_CLIENT_URLS
    log "warming up $sys for $WARM_CLUSTER (not measured)"
    bench_tool --system "$sys" --target "$targets" --label "warm-up/$sys" --connections "$CONNECTIONS" \
      --duration "$WARM_CLUSTER" --warmup 0 --mix read:50,write:50 --value-size "$VALUE_SIZE" \
      --keys "$KEYS" --key-prefix warm/ >"$RESULTS_DIR/warm-up.$sys.log"
  done
fi

# name | tool arguments (the first read workload preloads every key; later ones reuse them)
WORKLOADS=(
  "writes|--mix write:100"
  "linearizable-reads|--mix read:100 --consistency linearizable --preload"
  "stale-reads|--mix read:100 --consistency stale"
  "mix-90-10|--mix read:90,write:10 --consistency linearizable"
)

run() { # run NAME TAG SYSTEM TARGETS ARGS...   (results in $RESULTS_DIR/NAME.TAG.{json,txt})
  local name=$1 tag=$2 system=$3 targets=$4
  shift 4
  log "run $name on $tag"
  # The machine is shared: note how busy it was when the run started (1-minute load average).
  cut -d' ' -f1 /proc/loadavg >"$RESULTS_DIR/$name.$tag.load"
  bench_tool --system "$system" --target "$targets" --label "$name/$tag" \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
    --value-size "$VALUE_SIZE" --keys "$KEYS" --distribution uniform \
    --json "$RESULTS_DIR/$name.$tag.json" "$@" | tee "$RESULTS_DIR/$name.$tag.txt"
  ac_check_alive || { log "AspireCache lost a process during $name/$tag: results are void"; exit 1; }
  etcd_check_alive || { log "etcd lost a member during $name/$tag: results are void"; exit 1; }
}

# Elections under load: the term of every node before the measured runs and after them.
ac_terms() { local i; for i in 1 2 3; do ac_status "$i" | jq -r '.term // "?"'; done | sort -u | tr '\n' ' '; }
terms_before=$(ac_terms)

for w in "${WORKLOADS[@]}"; do
  name=${w%%|*}
  read -r -a args <<<"${w#*|}"
  run "$name" aspirecache aspirecache "$AC_ROUTER_URL" "${args[@]}"
  run "$name" etcd etcd "$ETCD_CLIENT_URLS" "${args[@]}"
  if [[ "${AC_DIRECT:-0}" == 1 && "$name" == *reads ]]; then
    direct_args=()
    for a in "${args[@]}"; do [[ "$a" != --preload ]] && direct_args+=("$a"); done
    run "$name" aspirecache-direct aspirecache "$AC_NODES" "${direct_args[@]}"
  fi
done

terms_after=$(ac_terms)

# ---- side-by-side table -------------------------------------------------------------------
j() { jq -r "$2" "$RESULTS_DIR/$1.json"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }

summary="$RESULTS_DIR/summary.md"
{
  echo "AspireCache vs etcd $(etcd --version | awk 'NR == 1 {print $3}') — $(nproc) cores, ${CONNECTIONS} connections, ${VALUE_SIZE}-byte values, ${KEYS} keys, ${DURATION} per run (+${WARMUP} warmup)"
  echo
  echo "| workload | AspireCache ops/s | etcd ops/s | ratio | AC p50 ms | etcd p50 ms | AC p99 ms | etcd p99 ms | p99 ratio | AC errors | etcd errors |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  for w in "${WORKLOADS[@]}"; do
    name=${w%%|*}
    rows=("$name.aspirecache|$name")
    [[ -f "$RESULTS_DIR/$name.aspirecache-direct.json" ]] && rows+=("$name.aspirecache-direct|$name (AC direct to nodes)")
    for row in "${rows[@]}"; do
      ac=${row%%|*} label=${row#*|} e="$name.etcd"
      ac_tp=$(j "$ac" .throughput) etcd_tp=$(j "$e" .throughput)
      ac_p50=$(j "$ac" .total.p50Ms) etcd_p50=$(j "$e" .total.p50Ms)
      ac_p99=$(j "$ac" .total.p99Ms) etcd_p99=$(j "$e" .total.p99Ms)
      ac_err=$(j "$ac" .totalErrors) etcd_err=$(j "$e" .totalErrors)
      printf '| %s | %.0f | %.0f | %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %s |\n' \
        "$label" "$ac_tp" "$etcd_tp" "$(ratio "$ac_tp" "$etcd_tp")" "$ac_p50" "$etcd_p50" \
        "$ac_p99" "$etcd_p99" "$(ratio "$ac_p99" "$etcd_p99")" "$ac_err" "$etcd_err"
    done
  done
  echo
  echo "ratio = AspireCache / etcd (throughput: higher is better for AspireCache; p99: lower is better)."
  echo
  echo "AspireCache Raft term before the measured runs: ${terms_before}— after: ${terms_after}(unchanged = no election under load)."
  echo
  echo "Conditions per run (1-min load average when it started; CPU of the load generator itself, % of one core):"
  for f in "$RESULTS_DIR"/*.json; do
    b=$(basename "$f" .json)
    printf -- '- %s: load %s, client CPU %.0f%%\n' "$b" "$(cat "$RESULTS_DIR/$b.load" 2>/dev/null || echo '?')" "$(jq -r .clientCpuPercent "$f")"
  done
  for f in "$RESULTS_DIR"/*.json; do
    errs=$(jq -r '.errors | to_entries | map("\(.key)=\(.value)") | join(", ")' "$f")
    [[ -n "$errs" ]] && echo "errors in $(basename "$f" .json): $errs"
  done
  true
} | tee "$summary"

echo
column -t -s '|' <(grep '^| ' "$summary" | grep -v -- '---' | sed 's/^| //; s/ |$//') || true
log "results: $RESULTS_DIR"
