#!/usr/bin/env bash
# Leader failover under load. Starts AspireCache (3 nodes + router), runs the bench tool in failover
# mode through the router (continuous writes with unique values + linearizable reads), kill -9's the
# leader after KILL_AFTER seconds, restarts it RESTART_AFTER seconds later, waits for the tool and
# prints its report (longest gaps without a successful write / read, errors, stale reads, lost
# acknowledged writes) plus the time from the kill to a new leader (other nodes' /cluster/status
# polled every 10 ms).
#
#   bench/failover.sh                                   # DURATION=15s KILL_AFTER=5 RESTART_AFTER=3
#   DURATION=10s KILL_AFTER=3 bench/failover.sh
#   CONNECTIONS=16 RESULTS_DIR=/tmp/x SKIP_BUILD=1 bench/failover.sh
#   SIGNAL=STOP RESTART_AFTER=5 bench/failover.sh       # the leader hangs (kill -STOP) instead of dying,
#                                                       # and resumes (kill -CONT) RESTART_AFTER s later
# Exit code: the tool's (1 when a write was lost or a linearizable read was stale).
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

DURATION=${DURATION:-15s}
KILL_AFTER=${KILL_AFTER:-5}
RESTART_AFTER=${RESTART_AFTER:-3}
SIGNAL=${SIGNAL:-KILL}
[[ $SIGNAL == KILL || $SIGNAL == STOP ]] || { echo "SIGNAL must be KILL or STOP" >&2; exit 2; }
CONNECTIONS=${CONNECTIONS:-16}
VALUE_SIZE=${VALUE_SIZE:-256}
KEYS=${KEYS:-10000}
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/failover-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS_DIR"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

bench_build
ac_start_cluster 7141 7142 7143 7140

report="$RESULTS_DIR/failover.txt"
log "starting the tool in failover mode for $DURATION ($CONNECTIONS connections) -> $report"
bench_tool --mode failover --target "$AC_ROUTER_URL" --label failover \
  --connections "$CONNECTIONS" --duration "$DURATION" --value-size "$VALUE_SIZE" --keys "$KEYS" \
  --request-timeout 10s --json "$RESULTS_DIR/failover.json" >"$report" 2>&1 &
tool_pid=$!
BENCH_PIDS+=("$tool_pid")

sleep "$KILL_AFTER"

# The leader, as the nodes themselves say (not the router's view).
old_leader=$(ac_leader)
[[ -n "$old_leader" ]] || { log "no leader found before the kill"; exit 1; }
victim=${old_leader#node}
old_term=$(ac_status "$victim" | jq -r .term)
survivors=""
for i in 1 2 3; do [[ "$i" != "$victim" ]] && survivors+="${survivors:+,}$(ac_node_url "$i")"; done

# Two watchers, started (and warm) before the kill: the survivors' /cluster/status every 10 ms until one
# says it leads in a newer term, and the router's /router/topology until it names a leader in that term.
watch_nodes="$RESULTS_DIR/watch-nodes.txt" watch_router="$RESULTS_DIR/watch-router.txt"
bench_tool --mode leader-watch --target "$survivors" --min-term $((old_term + 1)) --interval 10ms --duration 30s >"$watch_nodes" 2>&1 &
watch_nodes_pid=$!
BENCH_PIDS+=("$watch_nodes_pid")
bench_tool --mode leader-watch --target "$AC_ROUTER_URL" --watch-path router/topology --min-term $((old_term + 1)) --interval 10ms --duration 30s >"$watch_router" 2>&1 &
watch_router_pid=$!
BENCH_PIDS+=("$watch_router_pid")
for ((i = 0; i < 200; i++)); do
  grep -q '^watching' "$watch_nodes" && grep -q '^watching' "$watch_router" && break
  sleep 0.05
done

# Still the same leader and term? (A spurious election in between would make the numbers meaningless.)
status=$(ac_status "$victim")
if [[ $(jq -r .role <<<"$status") != leader || $(jq -r .term <<<"$status") != "$old_term" ]]; then
  log "leadership changed before the kill (was $old_leader term $old_term): rerun"
  exit 1
fi

kill -"$SIGNAL" "${AC_NODE_PID[$victim]}"
kill_ms=$(now_ms)
[[ $SIGNAL == KILL ]] && { wait "${AC_NODE_PID[$victim]}" 2>/dev/null || true; }
log "kill -$SIGNAL $old_leader (pid ${AC_NODE_PID[$victim]}, term $old_term) at unix ms $kill_ms"

field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" "$2" | awk 'NR == 1'; }
wait "$watch_nodes_pid" 2>/dev/null || true
wait "$watch_router_pid" 2>/dev/null || true
new_leader=$(field leader "$watch_nodes") new_term=$(field term "$watch_nodes") leader_ms=$(field unix_ms "$watch_nodes")
router_leader=$(field leader "$watch_router") router_ms=$(field unix_ms "$watch_router")
if [[ -n "$new_leader" ]]; then
  log "new leader $new_leader (term $new_term) after $((leader_ms - kill_ms)) ms; router switched after $((${router_ms:-kill_ms} - kill_ms)) ms"
else
  log "no new leader within 30 s: $(cat "$watch_nodes")"
fi

# Restart the killed node (same port, same data dir), or resume the stopped one, RESTART_AFTER s after the signal.
sleep_s=$(awk -v r="$RESTART_AFTER" -v e="$(($(now_ms) - kill_ms))" 'BEGIN { s = r - e / 1000; print (s > 0 ? s : 0) }')
sleep "$sleep_s"
if [[ $SIGNAL == STOP ]]; then
  kill -CONT "${AC_NODE_PID[$victim]}" # the hung process resumes, as a frozen VM would
else
  ac_start_node "$victim"
fi
restart_ms=$(now_ms)
rejoin_ms=""
if ac_wait_http "$(ac_node_url "$victim")/health" 60; then
  rejoin_ms=$(now_ms)
  log "$old_leader restarted and healthy after $((rejoin_ms - restart_ms)) ms"
fi

log "waiting for the tool"
set +e
wait "$tool_pid"
tool_rc=$?
set -e
ac_check_alive || log "a process died unexpectedly during the run (see the logs): the numbers may be void"

cat "$report"
gap_start=$(jq -r '.failover.longestWriteGapStartUnixMs' "$RESULTS_DIR/failover.json" 2>/dev/null || echo "")
gap_ms=$(jq -r '.failover.longestWriteGapMs' "$RESULTS_DIR/failover.json" 2>/dev/null || echo "")
{
  echo
  echo "== failover timeline (unix ms, relative to the kill)"
  echo "killed leader:                  $old_leader (term $old_term, kill -$SIGNAL) at $kill_ms"
  if [[ -n "$new_leader" ]]; then
    echo "new leader elected:             $new_leader (term $new_term) after $((leader_ms - kill_ms)) ms"
  else
    echo "new leader elected:             none within 30 s"
  fi
  [[ -n "$router_ms" ]] && echo "router names the new leader:    $router_leader after $((router_ms - kill_ms)) ms"
  [[ -n "$gap_start" && "$gap_start" != null ]] && echo "longest write gap:              ${gap_ms} ms, starting $((gap_start - kill_ms)) ms after the kill"
  echo "killed node restarted:          $((restart_ms - kill_ms)) ms after the kill${rejoin_ms:+, healthy $((rejoin_ms - restart_ms)) ms later}"
  echo "tool exit code:                 $tool_rc (non-zero = lost writes or stale reads)"
} | tee "$RESULTS_DIR/timeline.txt"
log "results: $RESULTS_DIR"
exit "$tool_rc"
