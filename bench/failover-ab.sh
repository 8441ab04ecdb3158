#!/usr/bin/env bash
# Two node variants under bench/failover.sh, interleaved: PAIRS pairs (default 6), the order flipping
# every pair, a fresh cluster each run. Per run: the longest gap between acknowledged writes and where it
# starts relative to the kill, the new leader's "ready" time after its election (its LeadershipSettler
# line), the kill -> new leader time, lost writes and stale reads; then each variant's medians. This is
# how bench/README.md's session-14 failover comparisons were made (there by ad-hoc copies of this loop).
#
#   VARIANT_A="" VARIANT_B="Cluster__LowerElectionTimeoutMs=100 Cluster__UpperElectionTimeoutMs=150" R2R=1 bench/failover-ab.sh
#   DLL_A=path/to/AspireCache.Node.dll DLL_B=other/AspireCache.Node.dll SKIP_BUILD=1 bench/failover-ab.sh
#                                           # two builds of the node (e.g. ReadyToRun publishes)
#   ROUTER_A="Router__WritesToElectedLeader=false" ROUTER_B="" R2R=1 bench/failover-ab.sh
# VARIANT_A / VARIANT_B: NAME=value settings for the nodes (space-separated, as AC_NODE_EXTRA_ENV);
# ROUTER_A / ROUTER_B: the same for the router (as AC_ROUTER_EXTRA_ENV).
# Settings of bench/failover.sh pass through (DURATION, CONNECTIONS, R2R, ...). Exit 1 if any run lost a
# write or served a stale read.
set -uo pipefail
here=$(dirname "$0")
# shellcheck source=bench/lib.sh
source "$here/lib.sh" # median_of
PAIRS=${PAIRS:-6}
ROOT=${RESULTS_DIR:-/tmp/aspirecache-bench-results/failover-ab-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$ROOT"
base_env=${AC_NODE_EXTRA_ENV:-}
base_router=${AC_ROUTER_EXTRA_ENV:-}
settler="Logging__LogLevel__AspireCache.Node.Raft.LeadershipSettler=Information"
declare -A gaps=() ready=() elected=()
failed=0

for ((p = 1; p <= PAIRS; p++)); do
  order="A B"
  ((p % 2 == 0)) && order="B A"
  for v in $order; do
    dir="$ROOT/$v-$p"
    [[ $v == A ]] && extra=${VARIANT_A:-} dll=${DLL_A:-} router=${ROUTER_A:-} || extra=${VARIANT_B:-} dll=${DLL_B:-} router=${ROUTER_B:-}
    env AC_NODE_EXTRA_ENV="$base_env $settler $extra" AC_ROUTER_EXTRA_ENV="$base_router $router" ${dll:+"AC_NODE_DLL=$dll"} KEEP_TMP=1 RESULTS_DIR="$dir" \
      "$here/failover.sh" >"$dir.log" 2>&1
    (($? != 0)) && failed=1
    export SKIP_BUILD=1
    tmp=$(sed -n 's/.*kept //p' "$dir.log")
    # The new leader's line: the highest term's "ready" (the cluster's first leader has a lower one).
    ready_ms=$(cat "$tmp"/aspirecache/node*.log 2>/dev/null | grep -o "Leader of term [0-9]* ready (its first entry committed) [0-9.]* ms" |
      sort -t' ' -k4,4n | tail -1 | awk '{print $(NF - 1)}')
    [[ -n "$tmp" && -d "$tmp" ]] && rm -rf "$tmp"
    gap=$(jq -r '.failover.longestWriteGapMs' "$dir/failover.json" 2>/dev/null)
    new_leader=$(sed -n 's/^new leader elected: .* after \([0-9]*\) ms.*/\1/p' "$dir/timeline.txt" 2>/dev/null)
    gaps[$v]+=" $gap" ready[$v]+=" $ready_ms" elected[$v]+=" $new_leader"
    printf '%s pair %s: longest write gap %s ms (%s); ready %s ms after the election; new leader after %s ms; lost writes %s, stale reads %s; load %s\n' \
      "$v" "$p" "$gap" "$(sed -n 's/^longest write gap: *[0-9.]* ms, //p' "$dir/timeline.txt" 2>/dev/null)" "${ready_ms:-?}" "${new_leader:-?}" \
      "$(jq -r '.failover.lostWrites' "$dir/failover.json" 2>/dev/null)" "$(jq -r '.failover.staleReads' "$dir/failover.json" 2>/dev/null)" \
      "$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$ROOT/summary.txt"
  done
done

for v in A B; do
  [[ $v == A ]] && what="${VARIANT_A:-} ${DLL_A:-} ${ROUTER_A:-}" || what="${VARIANT_B:-} ${DLL_B:-} ${ROUTER_B:-}"
  what=$(echo $what) # trimmed
  # shellcheck disable=SC2086
  printf '%s [%s]: median longest write gap %s ms (%s), ready after the election %s ms, new leader after %s ms\n' \
    "$v" "${what:-defaults}" "$(median_of ${gaps[$v]})" "$(echo ${gaps[$v]})" "$(median_of ${ready[$v]})" "$(median_of ${elected[$v]})" | tee -a "$ROOT/summary.txt"
done
echo "results: $ROOT"
exit "$failed"
