#!/usr/bin/env bash
# A follower that was away while the others compacted their logs: how long it takes to rejoin through
# the leader's snapshot (the whole state). Starts AspireCache (3 nodes + router, Release), stops one
# follower (SIGSTOP by default; SIGNAL=KILL kills it and starts it again on the same data), writes KEYS
# keys of VALUE_SIZE bytes through the router (batch writes, as memory.sh), waits until the leader has
# snapshotted past the away follower's log, brings the follower back and polls its /cluster/status
# until it has applied the leader's commit index. Prints the time to rejoin, the snapshot the leader
# sent (size, from its log) and exits 1 if the follower did not rejoin within REJOIN_TIMEOUT seconds.
#
# LOAD=1 keeps 8 writers and 8 linearizable readers going through the router (the failover tool, for
# LOAD_SECONDS from 3 s before the follower comes back) and prints their longest gap
# between acknowledged writes: what a rejoin costs the clients (SNAPSHOTS=<entries> makes the leader
# snapshot, and so compact its log, every that many entries; SNAPSHOT_DURING=<ms> asks the leader for one
# snapshot that many ms after it starts to bring the follower back, so that one falls inside the catch-up).
#
#   bench/rejoin.sh                          # KEYS=500000 VALUE_SIZE=256 SIGNAL=STOP REJOIN_TIMEOUT=120
#   KEYS=1000000 SIGNAL=KILL SKIP_BUILD=1 bench/rejoin.sh
#   LOAD=1 SNAPSHOT_DURING=500 SIGNAL=KILL bench/rejoin.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

KEYS=${KEYS:-500000}
VALUE_SIZE=${VALUE_SIZE:-256}
KEY_PREFIX=${KEY_PREFIX:-bench/}
BATCH=${BATCH:-1000}
PARALLEL=${PARALLEL:-4}
SIGNAL=${SIGNAL:-STOP}
REJOIN_TIMEOUT=${REJOIN_TIMEOUT:-120}
PORT_BASE=${PORT_BASE:-7160}
LOAD=${LOAD:-0}
LOAD_SECONDS=${LOAD_SECONDS:-30}
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/rejoin-$(date +%Y%m%d-%H%M%S)}
[[ -n "${SNAPSHOTS:-}" ]] && AC_NODE_EXTRA_ENV="${AC_NODE_EXTRA_ENV:-} Cluster__SnapshotInterval=$SNAPSHOTS"

# The leader says how long each snapshot took to send (CatchUpTransferHandler, Information).
AC_NODE_EXTRA_ENV="${AC_NODE_EXTRA_ENV:-} Logging__LogLevel__AspireCache.Node.Raft.DotNextShims.CatchUpTransferHandler=Information Logging__LogLevel__AspireCache.Node.StateMachine.CacheStateMachine=Information"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"
bench_build
ac_start_cluster $((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)) "$PORT_BASE"
leader=$(ac_leader)
leader=${leader#node}
away=$((leader % 3 + 1))
log "leader node$leader; node$away goes away (SIG$SIGNAL)"
kill -"$SIGNAL" "${AC_NODE_PID[$away]}"

started=$(date +%s)
load_keys "$KEYS"
log "loaded $KEYS keys in $(($(date +%s) - started)) s"
# The leader snapshots in the background once its log passes Cluster:SnapshotLogBytes: up to 10 s for it
# (below that, ~400,000 keys of 256 B, the follower is sent entries, not a snapshot).
for ((i = 0; i < 50; i++)); do
  snapshot=$(ac_status "$leader" | jq -r '.snapshotIndex // 0')
  ((snapshot > 0)) && break
  sleep 0.2
done
commit=$(ac_status "$leader" | jq -r '.commitIndex')
log "leader: commit index $commit, snapshot index $snapshot ($(du -sh "$AC_DATA_ROOT/node$leader/snapshots" | cut -f1) of snapshots)"
((snapshot > 0)) || log "WARNING: the leader has not snapshotted; the follower will get entries, not a snapshot"

if ((LOAD)); then
  mkdir -p "$RESULTS_DIR"
  bench_tool --mode failover --target "$AC_ROUTER_URL" --label rejoin --connections 16 \
    --duration "${LOAD_SECONDS}s" --value-size "$VALUE_SIZE" --keys 10000 --request-timeout 10s \
    --json "$RESULTS_DIR/rejoin-load.json" >"$RESULTS_DIR/rejoin-load.txt" 2>&1 &
  load_pid=$!
  BENCH_PIDS+=("$load_pid")
  sleep 3 # the tool's own start and first writes, before the follower is back
fi

back=$(now_ms)
if [[ "$SIGNAL" == STOP ]]; then
  kill -CONT "${AC_NODE_PID[$away]}"
else
  ac_start_node "$away"
fi
log "node$away is back"
if [[ -n "${SNAPSHOT_DURING:-}" ]]; then
  # DotNext warns "too far behind" when it starts sending the snapshot.
  before=$(grep -c "is too far behind" "$AC_DATA_ROOT/node$leader.log" || true)
  for ((i = 0; i < 300; i++)); do
    (($(grep -c "is too far behind" "$AC_DATA_ROOT/node$leader.log" || true) > before)) && break
    sleep 0.02
  done
  sleep "$(awk -v ms="$SNAPSHOT_DURING" 'BEGIN { print ms / 1000 }')"
  ac_curl "$leader" "/admin/snapshot?waitMs=0" -o /dev/null -X POST --max-time 2 || true
  log "asked node$leader for a snapshot $(($(now_ms) - back)) ms after node$away came back"
fi
applied=0
until ((applied >= commit)); do
  if (($(now_ms) - back > REJOIN_TIMEOUT * 1000)); then
    log "node$away did not rejoin within $REJOIN_TIMEOUT s: applied $applied of $commit"
    grep -E "Snapshot|snapshot" "$AC_DATA_ROOT/node$leader.log" | tail -5 >&2 || true
    exit 1
  fi
  sleep 0.2
  applied=$(ac_status "$away" 1 | jq -r '.appliedIndex // 0' 2>/dev/null || echo 0)
done
elapsed=$(($(now_ms) - back))
log "node$away rejoined: applied $applied ≥ $commit, $elapsed ms after it came back"
grep -hoE "(Snapshot|AppendEntries) of [0-9]+ bytes sent to [^ ]+ in [0-9]+ ms" "$AC_DATA_ROOT/node$leader.log" | tail -3 >&2 || true
if ((LOAD)); then
  wait "$load_pid" || log "the load tool failed (see $RESULTS_DIR/rejoin-load.txt)"
  gap=$(jq -r '.failover.longestWriteGapMs' "$RESULTS_DIR/rejoin-load.json" 2>/dev/null || echo "?")
  gap_start=$(jq -r '.failover.longestWriteGapStartUnixMs' "$RESULTS_DIR/rejoin-load.json" 2>/dev/null || echo 0)
  lost=$(jq -r '.failover.lostWrites' "$RESULTS_DIR/rejoin-load.json" 2>/dev/null || echo "?")
  snapshots=$(grep -c "Snapshot taken at index" "$AC_DATA_ROOT/node$leader.log" 2>/dev/null || echo "?")
  log "under load: longest gap between acknowledged writes $gap ms, starting $((gap_start - back)) ms after node$away came back; lost writes $lost; leader snapshots in its log: $snapshots"
  cp "$AC_DATA_ROOT/node$leader.log" "$RESULTS_DIR/leader.log" 2>/dev/null || true
fi
echo "rejoin: $KEYS keys × $VALUE_SIZE B, SIG$SIGNAL, $elapsed ms${gap:+, longest write gap $gap ms}"
