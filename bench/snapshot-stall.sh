#!/usr/bin/env bash
# Copy-on-write snapshots under load. Starts AspireCache (3 nodes + router, Release), loads KEYS keys
# of VALUE_SIZE bytes into the leader, keeps CONNECTIONS writers busy on it, asks it for a snapshot
# and prints the longest time no write completed (the apply stall) before and during the snapshot.
#
#   bench/snapshot-stall.sh                       # KEYS=1000000 VALUE_SIZE=256 CONNECTIONS=8
#   KEYS=200000 SKIP_BUILD=1 bench/snapshot-stall.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

KEYS=${KEYS:-1000000}
VALUE_SIZE=${VALUE_SIZE:-256}
CONNECTIONS=${CONNECTIONS:-8}
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

bench_build
# Only the requested snapshot: no interval snapshot during the load.
AC_NODE_EXTRA_ENV="Cluster__SnapshotInterval=200000 Cluster__SnapshotLogBytes=1000000000000" ac_start_cluster 7161 7162 7163 7160
leader=$(ac_leader)
leader_url=$(ac_node_url "${leader#node}")
log "leader $leader at $leader_url"
bench_tool --mode snapshot --target "$leader_url/" --keys "$KEYS" --value-size "$VALUE_SIZE" \
  --connections "$CONNECTIONS" --warmup 2s --duration 3s --request-timeout 60s
