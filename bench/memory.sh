#!/usr/bin/env bash
# Resident memory per entry (issue #16). For each key count in KEYS, starts a fresh AspireCache
# cluster (3 nodes + router, Release), warms it up, samples every node's RSS, loads the keys
# (VALUE_SIZE-byte values) through the router, waits until every node has applied them and the
# GC had SETTLE seconds, samples again and prints, per node,
#   bytes/entry = (VmRSS after − VmRSS before) / keys
# split into RssAnon (GC heap, native heap, stacks), RssFile (mapped files: the DotNext WAL pages
# and the binaries) and RssShmem (the runtime's double-mapped JIT code), with the WAL and snapshot
# sizes on disk and, when dotnet-counters is found, the GC's own heap figures.
#
#   bench/memory.sh                          # KEYS="500000 1000000" VALUE_SIZE=256
#   KEYS=500000 SKIP_BUILD=1 bench/memory.sh
#   AC_NODE_EXTRA_ENV="DOTNET_GCConserveMemory=5" bench/memory.sh   # any node setting (GC knobs...)
#
# The keys are written with batch writes (POST /cache/batch, BATCH keys per request, PARALLEL
# requests at a time, curl): the bench tool's --preload (one PUT per key) ran at ~1,600 keys/s on
# a 2-core box, ten minutes for a million keys. Keys are named like the bench tool's (KEY_PREFIX + zero-padded index).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

KEYS=${KEYS:-"500000 1000000"}
VALUE_SIZE=${VALUE_SIZE:-256}
KEY_PREFIX=${KEY_PREFIX:-bench/}
BATCH=${BATCH:-1000}          # keys per batch request (the node's default Cache:Limits:MaxBatchKeys)
PARALLEL=${PARALLEL:-4}       # batch requests in flight
SETTLE=${SETTLE:-5}           # seconds of idle after everything is applied, before the sample
PORT_BASE=${PORT_BASE:-7170}  # router PORT_BASE, nodes PORT_BASE+1..3
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/memory-$(date +%Y%m%d-%H%M%S)}
# dotnet-counters (dotnet tool install dotnet-counters): GC heap size and committed bytes per node.
COUNTERS=${COUNTERS:-$(command -v dotnet-counters || true)}
mkdir -p "$RESULTS_DIR"
SUMMARY="$RESULTS_DIR/summary.md"

log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"
log "results: $RESULTS_DIR"

# rss_sample PID -> "VmRSS RssAnon RssFile RssShmem" in kB
rss_sample() {
  awk '/^(VmRSS|RssAnon|RssFile|RssShmem):/ {v[$1] = $2}
       END {printf "%d %d %d %d\n", v["VmRSS:"], v["RssAnon:"], v["RssFile:"], v["RssShmem:"]}' "/proc/$1/status"
}

# gc_sample PID -> "heapMB committedMB" after the last GC (dotnet-counters attached for 3 s), or "- -".
gc_sample() {
  local pid=$1 out
  if [[ -z "$COUNTERS" ]]; then
    echo "- -"
    return
  fi
  out=$(mktemp "$RESULTS_DIR/counters.XXXXXX")
  "$COUNTERS" collect -p "$pid" --format json -o "$out.json" --refresh-interval 1 --duration 00:00:00:03 \
    --counters 'System.Runtime[dotnet.gc.last_collection.heap.size,dotnet.gc.last_collection.memory.committed_size]' \
    >/dev/null 2>&1 || true
  if [[ -s "$out.json" ]]; then
    # Last value of each series; heap.size is reported per generation (gen0..2, loh, poh): summed.
    jq -r '[.Events[] | select(.name | startswith("dotnet.gc.last_collection"))]
      | group_by(.name + .tags) | map(last) as $last
      | [([$last[] | select(.name | startswith("dotnet.gc.last_collection.heap.size")) | .value] | add // 0),
         ([$last[] | select(.name | startswith("dotnet.gc.last_collection.memory.committed_size")) | .value] | add // 0)]
      | map(. / 1048576 | floor | tostring) | join(" ")' "$out.json" 2>/dev/null || echo "- -"
  else
    echo "- -"
  fi
  rm -f "$out" "$out.json"
}

# wait_applied MIN_KEYS: until every node has applied its commit index, all nodes agree on it and
# hold at least MIN_KEYS keys, twice in a row 1 s apart (nothing left in flight).
wait_applied() {
  local min=$1 deadline prev="" cur i s
  deadline=$(($(date +%s) + 300))
  while :; do
    cur=""
    for i in 1 2 3; do
      s=$(ac_status "$i" 2)
      cur+=$(jq -r '"\(.commitIndex)/\(.appliedIndex)/\(.keys) "' <<<"${s:-null}" 2>/dev/null || echo "?")
    done
    if [[ $(tr ' ' '\n' <<<"$cur" | grep -v '^$' | sort -u | wc -l) == 1 ]] \
      && awk -F/ -v m="$min" '{ exit !($1 == $2 && $3 >= m) }' <<<"${cur%% *}" && [[ "$cur" == "$prev" ]]; then
      return 0
    fi
    if (($(date +%s) >= deadline)); then
      log "nodes did not converge (commit/applied/keys per node: $cur)"
      return 1
    fi
    prev=$cur
    sleep 1
  done
}

printf '# Memory per entry (%s)\n\n' "$(date -u +%FT%TZ)" >"$SUMMARY"
printf 'value %d B, key prefix `%s`, settle %d s, load average at start %s, node env: `%s`\n\n' \
  "$VALUE_SIZE" "$KEY_PREFIX" "$SETTLE" "$(cut -d' ' -f1 /proc/loadavg)" "${AC_NODE_EXTRA_ENV:-}" >>"$SUMMARY"

bench_build
for n in $KEYS; do
  ac_start_cluster $((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)) "$PORT_BASE"

  # Warm-up: JIT, connection pools, a first few GCs (1,000 keys of their own prefix).
  log "warm-up: 4 s of 50/50 load on 1,000 keys"
  bench_tool --target "$AC_ROUTER_URL" --preload --keys 1000 --key-prefix warm/ --value-size "$VALUE_SIZE" \
    --mix read:50,write:50 --connections 16 --warmup 1s --duration 3s >"$RESULTS_DIR/warmup-$n.txt" 2>&1
  wait_applied 1000
  sleep "$SETTLE"
  declare -A before=() gcbefore=() roles=()
  for i in 1 2 3; do
    before[$i]=$(rss_sample "${AC_NODE_PID[$i]}")
  done
  for i in 1 2 3; do
    gcbefore[$i]=$(gc_sample "${AC_NODE_PID[$i]}")
  done
  base_keys=$(ac_status 1 | jq -r '.keys')

  log "loading $n keys × $VALUE_SIZE B through the router ($BATCH per batch, $PARALLEL in flight)"
  t0=$(now_ms)
  load_keys "$n"
  t1=$(now_ms)
  log "loaded in $(((t1 - t0) / 1000)) s; waiting for every node to apply them"
  wait_applied $((base_keys + n))
  t2=$(now_ms)
  log "applied everywhere $(((t2 - t1) / 1000)) s later; settling $SETTLE s"
  sleep "$SETTLE"
  ac_check_alive

  declare -A after=() gcafter=()
  for i in 1 2 3; do
    after[$i]=$(rss_sample "${AC_NODE_PID[$i]}")
    roles[$i]=$(ac_status "$i" | jq -r '"\(.role) \(.keys) \(.sizeBytes) \(.snapshotIndex) \(.commitIndex)"')
  done
  for i in 1 2 3; do
    gcafter[$i]=$(gc_sample "${AC_NODE_PID[$i]}")
  done

  {
    printf '## %d keys (loaded in %.1f s, applied on all nodes %.1f s later)\n\n' "$n" \
      "$(awk "BEGIN { print ($t1 - $t0) / 1000 }")" "$(awk "BEGIN { print ($t2 - $t1) / 1000 }")"
    echo '| node | role | RSS before MB | RSS after MB | **B/entry** | anon B/entry | file B/entry | shmem B/entry | GC heap MB before→after | GC committed MB before→after | WAL MB | snapshots MB | accounted B/entry |'
    echo '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|'
    for i in 1 2 3; do
      read -r r0 a0 f0 s0 <<<"${before[$i]}"
      read -r r1 a1 f1 s1 <<<"${after[$i]}"
      read -r role keys size _snap _commit <<<"${roles[$i]}"
      read -r h0 c0 <<<"${gcbefore[$i]}"
      read -r h1 c1 <<<"${gcafter[$i]}"
      wal=$(du -sm "$AC_DATA_ROOT/node$i/wal" 2>/dev/null | cut -f1)
      snaps=$(du -sm "$AC_DATA_ROOT/node$i/snapshots" 2>/dev/null | cut -f1)
      printf '| node%d | %s | %d | %d | **%d** | %d | %d | %d | %s→%s | %s→%s | %s | %s | %d |\n' "$i" "$role" \
        $((r0 / 1024)) $((r1 / 1024)) $(((r1 - r0) * 1024 / n)) $(((a1 - a0) * 1024 / n)) $(((f1 - f0) * 1024 / n)) \
        $(((s1 - s0) * 1024 / n)) "$h0" "$h1" "$c0" "$c1" "$wal" "$snaps" $((size / keys))
    done
    echo
  } | tee -a "$SUMMARY"

  bench_cleanup
  BENCH_TMP=""
done

cat >>"$SUMMARY" <<'EOF'
B/entry = (after − before) / keys, from /proc/<pid>/status: VmRSS = RssAnon (GC heap, native
allocations, thread stacks) + RssFile (mapped files: DotNext's WAL pages still mapped, the runtime
and assemblies) + RssShmem (the runtime's double-mapped JIT code). "accounted" is the state's own
size estimate (keys, values, CacheEntry.OverheadBytes) per key, from /cluster/status. GC figures
are dotnet-counters' System.Runtime values after the last collection (heap = live + fragmentation
in the generations; committed = what the GC holds from the OS), "-" when dotnet-counters is absent.
EOF
log "summary: $SUMMARY"
