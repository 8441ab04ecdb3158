#!/usr/bin/env bash
# Reproduces the paused-leader divergence hunt (verify/findings/2026-11-30-*): a Release cluster
# (3 nodes + router) under writes, whose leader is SIGSTOP-paused longer than the election timeout
# and resumed, over and over. Every node writes an apply trace (Cluster:ApplyTrace: index, term,
# payload hash per applied entry); after every pause the traces are compared index by index.
# Exits 1 at the first index two replicas applied differently, keeping the data and logs.
#   verify/leader-pause.sh                    # 40 pauses
#   PAUSES=200 PAUSE_MS=2500 verify/leader-pause.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/../bench/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

pauses=${PAUSES:-40}
pause_ms=${PAUSE_MS:-2000}
base=${PORT_BASE:-7400}
export AC_NODE_EXTRA_ENV="Cluster__ApplyTrace=true ${AC_NODE_EXTRA_ENV:-}"

bench_build
ac_start_cluster $((base + 1)) $((base + 2)) $((base + 3)) "$base"

# Writers: through the router (most traffic) and straight at every node (a paused leader's own
# clients, as in the Jepsen run). Errors (421/503 while there is no leader) are expected.
writers=()
bench_tool --target "$AC_ROUTER_URL" --connections 16 --duration 3600s --warmup 0s --mix write:100 \
  --keys 200 --value-size 64 --error-backoff 20ms --json "$BENCH_TMP/router.json" >"$BENCH_TMP/router-writer.log" 2>&1 &
writers+=("$!"); BENCH_PIDS+=("$!")
for i in 1 2 3; do
  bench_tool --target "$(ac_node_url "$i")" --connections 2 --duration 3600s --warmup 0s --mix write:100 \
    --keys 200 --value-size 64 --error-backoff 20ms --key-prefix "direct$i-" >"$BENCH_TMP/direct$i-writer.log" 2>&1 &
  writers+=("$!"); BENCH_PIDS+=("$!")
done

# Prints the first index at which two nodes' apply traces disagree (nothing when they agree).
compare_traces() {
  awk '
    FNR == 1 { node++ }
    NF != 4 { next }
    $3 == "installed" || $3 == "restored" { next }
    {
      key = $1
      val = $2 " " $3 " rev " $4
      if (key in seen && seen[key] != val && !(key in reported)) {
        printf "index %s: %s on %s, %s on node%d\n", key, seen[key], owner[key], val, node
        reported[key] = 1
        bad++
      } else if (!(key in seen)) { seen[key] = val; owner[key] = "node" node }
    }
    END { exit bad > 0 }' "$AC_DATA_ROOT"/node{1,2,3}/apply-trace.log
}

sleep 3
for ((p = 1; p <= pauses; p++)); do
  leader=$(ac_leader || true)
  if [[ -z "$leader" ]]; then sleep 1; continue; fi
  i=${leader#node}
  pid=${AC_NODE_PID[$i]}
  log "pause $p/$pauses: SIGSTOP $leader (pid $pid) for ${pause_ms} ms"
  kill -STOP "$pid"
  sleep "$(awk -v ms="$pause_ms" 'BEGIN { srand(); printf "%.3f", (ms * (0.75 + rand() * 0.5)) / 1000 }')"
  kill -CONT "$pid"
  sleep 3
  if ! out=$(compare_traces); then
    log "DIVERGENCE after pause $p of $leader:"
    printf '%s\n' "$out" | head -20 >&2
    KEEP_TMP=1
    exit 1
  fi
done
log "no divergence in $pauses leader pauses"
