#!/usr/bin/env bash
# Scale curves: AspireCache (3 nodes + router, driven through the router) and etcd 3.4 (3 members,
# all three client URLs), same machine, same tool (load mode, one run per point), two workloads:
# writes only and linearizable reads.
#   connections sweep: 1, 4, 16, 64, 256, 1024 connections at 256-byte values
#   value-size sweep:  64 B, 1 KiB, 4 KiB, 16 KiB, 64 KiB at 64 connections (+ the 256 B point above)
# Writes RESULTS_DIR/results.json (every run's JSON), scale.md (throughput, p50, p99 per point and system),
# summary.md (scale.md + conditions) and four charts (the tool's chart mode, ScottPlot):
# bench-throughput-vs-connections.png, bench-p99-vs-connections.png, bench-throughput-vs-value-size.png,
# bench-p99-vs-value-size.png. DOCS=1 also copies the PNGs to docs/images/.
#
#   bench/scale.sh                                # DURATION=5s per point: ~8 min on 2 cores
#   DURATION=2s CONNECTIONS_LIST="1 4" VALUE_SIZES="64 1024" WARM_CLUSTER=0 bench/scale.sh   # tiny sweep
#   DOCS=1 bench/scale.sh                         # + docs/images/bench-*.png
#   SYSTEMS=aspirecache WORKLOADS="writes stale-reads" bench/scale.sh
#   # redraw the charts and table of a finished sweep without measuring again:
#   dotnet AspireCache.Bench/bin/Release/net10.0/AspireCache.Bench.dll --mode chart --input <dir>/results.json --output <dir>
#
# 1,024 connections: the tool, the router and etcd each hold that many sockets, so the open-files limit
# is raised to its hard limit when it is below 4 x the largest connection count (the script stops if it
# cannot be). The router's per-caller rate limit (Router:RateLimit, 50,000 requests/s with a burst of
# 50,000 per caller; the tool is one caller, by address) is switched off for the sweep
# (Router__RateLimit__Enabled=false; RATE_LIMIT=1 keeps it) so that no point is capped by it.
# Reads read keys written with the point's value size: each (system, value size) is prefilled once
# (KEYS keys under scale/v<size>/, not measured) before its first read point. KEYS defaults to 1,000 so
# that the 64 KiB points stay far below etcd's 2 GiB backend quota (etcd keeps every revision).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

DURATION=${DURATION:-5s}            # measured time per point
WARMUP=${WARMUP:-2s}                # unmeasured time per point (connections are opened then)
WARM_CLUSTER=${WARM_CLUSTER:-10s}   # unmeasured 50/50 load on each system first; 0 to skip
CONNECTIONS_LIST=${CONNECTIONS_LIST-"1 4 16 64 256 1024"}   # empty: no connections sweep
VALUE_SIZES=${VALUE_SIZES-"64 1024 4096 16384 65536"}        # empty: no value-size sweep
FIXED_VALUE_SIZE=${FIXED_VALUE_SIZE:-256}   # value size of the connections sweep
FIXED_CONNECTIONS=${FIXED_CONNECTIONS:-64}  # connections of the value-size sweep
KEYS=${KEYS:-1000}
SYSTEMS=${SYSTEMS:-"aspirecache etcd"}
WORKLOADS=${WORKLOADS:-"writes linearizable-reads"}
RATE_LIMIT=${RATE_LIMIT:-0}
DOCS=${DOCS:-0}
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/scale-$(date +%Y%m%d-%H%M%S)}
POINTS="$RESULTS_DIR/points"
mkdir -p "$POINTS"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

workload_args() {
  case $1 in
    writes) echo "--mix write:100" ;;
    linearizable-reads) echo "--mix read:100 --consistency linearizable" ;;
    stale-reads) echo "--mix read:100 --consistency stale" ;;
    *) log "unknown workload '$1' (writes, linearizable-reads, stale-reads)"; return 1 ;;
  esac
}
for w in $WORKLOADS; do workload_args "$w" >/dev/null; done

# ---- open files: every connection is a socket in the tool and in the server it reaches -------------
max_connections=$FIXED_CONNECTIONS
for c in $CONNECTIONS_LIST; do ((c > max_connections)) && max_connections=$c; done
need_fds=$((max_connections * 4 + 1024))
if [[ $(ulimit -n) != unlimited ]] && (($(ulimit -n) < need_fds)); then
  hard=$(ulimit -Hn)
  if [[ $hard == unlimited ]] || ((hard >= need_fds)); then
    ulimit -n "$need_fds"
  else
    ulimit -n "$hard"
  fi
  log "open-files limit raised to $(ulimit -n) for $max_connections connections"
  if (($(ulimit -n) < need_fds)); then
    log "open-files hard limit $(ulimit -Hn) < $need_fds: lower CONNECTIONS_LIST or raise the limit"
    exit 1
  fi
fi

etcd_ensure_installed
bench_build

[[ $RATE_LIMIT == 1 ]] || AC_ROUTER_EXTRA_ENV="Router__RateLimit__Enabled=false"
PORT_BASE=${PORT_BASE:-7250} # router; nodes +1..+3, etcd clients +11..+13, peers +21..+23
if [[ " $SYSTEMS " == *" etcd "* ]]; then
  etcd_start_cluster $((PORT_BASE + 11)) $((PORT_BASE + 12)) $((PORT_BASE + 13)) $((PORT_BASE + 21)) $((PORT_BASE + 22)) $((PORT_BASE + 23))
fi
if [[ " $SYSTEMS " == *" aspirecache "* ]]; then
  ac_start_cluster $((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)) "$PORT_BASE"
fi

targets_of() { if [[ $1 == etcd ]]; then echo "$ETCD_CLIENT_URLS"; else echo "$AC_ROUTER_URL"; fi; }

check_alive() {
  if [[ " $SYSTEMS " == *" aspirecache "* ]]; then
    ac_check_alive || { log "AspireCache lost a process during $1: results are void"; exit 1; }
  fi
  if [[ " $SYSTEMS " == *" etcd "* ]]; then
    etcd_check_alive || { log "etcd lost a member during $1: results are void"; exit 1; }
  fi
}

if [[ "$WARM_CLUSTER" != 0 && "$WARM_CLUSTER" != 0s ]]; then
  for sys in $SYSTEMS; do
    log "warming up $sys for $WARM_CLUSTER (not measured)"
    bench_tool --system "$sys" --target "$(targets_of "$sys")" --label "warm-up/$sys" --connections "$FIXED_CONNECTIONS" \
      --duration "$WARM_CLUSTER" --warmup 0 --mix read:50,write:50 --value-size "$FIXED_VALUE_SIZE" \
      --keys "$KEYS" --key-prefix warm/ >"$RESULTS_DIR/warm-up.$sys.log"
  done
fi

declare -A PREFILLED=()
MEASURED=() # point names in the order measured
# prefill SYSTEM SIZE: every key under scale/v<size>/ written once with values of that size (not measured).
prefill() {
  local sys=$1 size=$2
  [[ -n "${PREFILLED[$sys.$size]:-}" ]] && return 0
  log "prefill $sys: $KEYS keys of $size bytes"
  bench_tool --system "$sys" --target "$(targets_of "$sys")" --label "prefill/$sys/$size" --connections "$FIXED_CONNECTIONS" \
    --duration 100ms --warmup 0 --mix write:100 --preload --keys "$KEYS" --value-size "$size" \
    --key-prefix "scale/v$size/" >>"$RESULTS_DIR/prefill.log"
  PREFILLED[$sys.$size]=1
}

# point CONNECTIONS SIZE: every workload on every system at this point.
point() {
  local c=$1 size=$2 w sys name args
  for w in $WORKLOADS; do
    read -r -a args <<<"$(workload_args "$w")"
    for sys in $SYSTEMS; do
      name="$sys.$w.c$c.v$size"
      [[ -f "$POINTS/$name.json" ]] && continue # the point both sweeps share
      [[ $w == *reads ]] && prefill "$sys" "$size"
      log "point $name"
      cut -d' ' -f1 /proc/loadavg >"$POINTS/$name.load"
      bench_tool --system "$sys" --target "$(targets_of "$sys")" --label "scale/$name" \
        --connections "$c" --duration "$DURATION" --warmup "$WARMUP" --value-size "$size" \
        --keys "$KEYS" --distribution uniform --key-prefix "scale/v$size/" \
        --json "$POINTS/$name.json" "${args[@]}" >"$POINTS/$name.txt"
      MEASURED+=("$name")
      grep -E '^(measured|total)' "$POINTS/$name.txt" | sed 's/^/    /' >&2 || true
      check_alive "$name"
    done
  done
}

terms_before=""
[[ " $SYSTEMS " == *" aspirecache "* ]] && terms_before=$(compare_terms)
started=$(date +%s)
for c in $CONNECTIONS_LIST; do point "$c" "$FIXED_VALUE_SIZE"; done
for size in $VALUE_SIZES; do point "$FIXED_CONNECTIONS" "$size"; done
sweep_seconds=$(($(date +%s) - started))
terms_after=""
[[ " $SYSTEMS " == *" aspirecache "* ]] && terms_after=$(compare_terms)

# ---- results file, table and charts ------------------------------------------------------------
loads=$(cat "$POINTS"/*.load | sort -n | sed -n '1p;$p' | tr '\n' ' ')
note="$(nproc) cores, ${DURATION} per point"
for b in "${MEASURED[@]}"; do
  jq --arg load "$(cat "$POINTS/$b.load" 2>/dev/null || echo '')" \
    'if .options.system == "aspirecache" then .systemLabel = "AspireCache (router)" else . end | .loadAverage1m = ($load | tonumber? // null)' "$POINTS/$b.json"
done | jq -s --argjson fv "$FIXED_VALUE_SIZE" --argjson fc "$FIXED_CONNECTIONS" --arg note "$note" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  '{fixedValueSize: $fv, fixedConnections: $fc, note: $note, date: $date, runs: .}' >"$RESULTS_DIR/results.json"

bench_tool --mode chart --input "$RESULTS_DIR/results.json" --output "$RESULTS_DIR" >"$RESULTS_DIR/chart.log"

etcd_db=""
if [[ " $SYSTEMS " == *" etcd "* ]]; then
  etcd_db=$(curl -s --max-time 5 -X POST -d '{}' "${ETCD_CLIENT_URLS%%,*}/v3/maintenance/status" | jq -r '.dbSize // empty' || true)
fi
summary="$RESULTS_DIR/summary.md"
{
  echo "Scale sweep — $(nproc) cores, ${DURATION} per point (+${WARMUP} warm-up), ${KEYS} keys, systems: ${SYSTEMS}, workloads: ${WORKLOADS}; AspireCache through its router$([[ $RATE_LIMIT == 1 ]] || echo ' (rate limit off)'), etcd $(command -v etcd >/dev/null && etcd --version | awk 'NR == 1 {print $3}') on its three client URLs"
  echo
  cat "$RESULTS_DIR/scale.md"
  if [[ -n "$terms_before" ]]; then
    echo "AspireCache Raft term before the sweep: ${terms_before}— after: ${terms_after}(unchanged = no election under load)."
    echo
  fi
  echo "Sweep: ${sweep_seconds} s; 1-min load average per point from $(echo "$loads" | awk '{print $1}') to $(echo "$loads" | awk '{print $NF}') (the machine is shared); open-files limit $(ulimit -n)${etcd_db:+; etcd backend size after the sweep $((etcd_db / 1048576)) MiB}."
  list_errors "$POINTS"/*.json
} | tee "$summary"
grep '^wrote ' "$RESULTS_DIR/chart.log" >&2 || true

if [[ "$DOCS" == 1 ]]; then
  mkdir -p "$BENCH_ROOT/docs/images"
  charts=("$RESULTS_DIR"/bench-*.png)
  cp "${charts[@]}" "$BENCH_ROOT/docs/images/"
  log "copied ${#charts[@]} charts to docs/images/: ${charts[*]##*/}"
fi
log "results: $RESULTS_DIR"
