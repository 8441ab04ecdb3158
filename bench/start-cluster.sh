#!/usr/bin/env bash
# Starts AspireCache (3 nodes + router, Release build, no Aspire/dashboard) on loopback and keeps it
# running until Ctrl+C (or SIGTERM); everything is stopped by PID on exit.
#   bench/start-cluster.sh                  # router 7100, nodes 7101-7103
#   PORT_BASE=7150 bench/start-cluster.sh   # router 7150, nodes 7151-7153
#   SKIP_BUILD=1 KEEP_TMP=1 bench/start-cluster.sh
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

base=${PORT_BASE:-7100}
bench_build
ac_start_cluster $((base + 1)) $((base + 2)) $((base + 3)) "$base"
echo "router: $AC_ROUTER_URL"
for i in 1 2 3; do echo "node$i:  $(ac_node_url "$i")  pid ${AC_NODE_PID[$i]}"; done
echo "leader: $(ac_leader)   logs/data: $AC_DATA_ROOT   (Ctrl+C stops everything)"
# wait (not a foreground sleep) so that SIGINT/SIGTERM run the traps at once
sleep infinity &
BENCH_PIDS+=("$!")
wait "$!"
