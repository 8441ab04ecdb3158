#!/usr/bin/env bash
# Runs bench/failover.sh RUNS times (default 3; a fresh cluster each time, the leader kill -9'd under load)
# and prints each run's longest gap between acknowledged writes, time to a new leader, lost writes and stale
# reads, then the median gap. Settings pass through (AC_NODE_EXTRA_ENV, CONNECTIONS, DURATION, ...).
#
#   bench/failover-median.sh                       # RUNS=3
#   RUNS=5 SKIP_BUILD=1 bench/failover-median.sh
set -uo pipefail
here=$(dirname "$0")
# shellcheck source=bench/lib.sh
source "$here/lib.sh" # median_of
RUNS=${RUNS:-3}
ROOT=${RESULTS_DIR:-/tmp/aspirecache-bench-results/failover-median-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$ROOT"
gaps=() elected=() failed=0
for ((r = 1; r <= RUNS; r++)); do
  dir="$ROOT/run$r"
  attempt=0
  while :; do
    attempt=$((attempt + 1))
    RESULTS_DIR="$dir" "$here/failover.sh" >"$ROOT/run$r.log" 2>&1
    rc=$?
    # A spurious election before the kill makes a run meaningless: failover.sh says so; rerun it (twice at most).
    if grep -q "leadership changed before the kill\|no leader found before the kill" "$ROOT/run$r.log" && ((attempt < 3)); then
      echo "run $r: leadership changed before the kill, rerunning" >&2
      continue
    fi
    break
  done
  export SKIP_BUILD=1
  ((rc != 0)) && failed=1
  gap=$(jq -r '.failover.longestWriteGapMs | floor' "$dir/failover.json" 2>/dev/null || echo "?")
  gaps+=("$gap")
  elected+=("$(sed -n 's/^new leader elected: .* after \([0-9]*\) ms.*/\1/p' "$dir/timeline.txt")")
  printf 'run %s: longest write gap %s ms; %s; %s; lost writes %s, stale reads %s\n' "$r" "$gap" \
    "$(sed -n 's/^new leader elected: *//p' "$dir/timeline.txt")" \
    "$(sed -n 's/^router names the new leader: *//p' "$dir/timeline.txt")" \
    "$(jq -r '.failover.lostWrites' "$dir/failover.json" 2>/dev/null)" \
    "$(jq -r '.failover.staleReads' "$dir/failover.json" 2>/dev/null)" | tee -a "$ROOT/summary.txt"
done
echo "median longest write gap over $RUNS kills: $(median_of "${gaps[@]}") ms (gaps: ${gaps[*]})" | tee -a "$ROOT/summary.txt"
# "Elected" is when another node's /cluster/status first names the new leader, i.e. once it is ready
# (its first entry committed): the gap minus this is the router's switch and the first write's round.
echo "median kill → new leader ready: $(median_of "${elected[@]}") ms (${elected[*]})" | tee -a "$ROOT/summary.txt"
echo "results: $ROOT"
exit "$failed"
