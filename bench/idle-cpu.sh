#!/usr/bin/env bash
# Idle CPU of the three nodes, two variants interleaved: a fresh cluster per run (3 nodes + router,
# Release), SETTLE seconds after it has a leader, then the nodes' CPU time (utime + stime from /proc)
# over SECONDS_MEASURED, printed as ms of CPU per second for the three together. No client load.
#
#   bench/idle-cpu.sh                                   # the defaults vs 75-125 ms election timeouts, 2 rounds
#   VARIANT_A="" VARIANT_B="Cluster__HeartbeatThreshold=0.25" ROUNDS=3 bench/idle-cpu.sh
# VARIANT_A / VARIANT_B: NAME=value settings for the nodes (as AC_NODE_EXTRA_ENV). This is how
# bench/README.md's session-16 idle figures were made (20 s, 2 rounds).
set -euo pipefail
here=$(dirname "$0")
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

VARIANT_A=${VARIANT_A-Cluster__LowerElectionTimeoutMs=75 Cluster__UpperElectionTimeoutMs=125}
VARIANT_B=${VARIANT_B-}
ROUNDS=${ROUNDS:-2}
SETTLE=${SETTLE:-15}
SECONDS_MEASURED=${SECONDS_MEASURED:-20}
base_env=${AC_NODE_EXTRA_ENV:-}

nodes_cpu_ticks() { cpu_ticks_of "${AC_NODE_PID[1]}" "${AC_NODE_PID[2]}" "${AC_NODE_PID[3]}"; }

bench_build
export SKIP_BUILD=1
ticks_per_s=$(getconf CLK_TCK)
for ((r = 1; r <= ROUNDS; r++)); do
  for v in A B; do
    [[ $v == A ]] && extra=$VARIANT_A || extra=$VARIANT_B
    AC_NODE_EXTRA_ENV="$base_env $extra" ac_start_cluster 7161 7162 7163 7160 >&2
    sleep "$SETTLE"
    before=$(nodes_cpu_ticks)
    sleep "$SECONDS_MEASURED"
    after=$(nodes_cpu_ticks)
    printf '%s round %s [%s]: nodes %s ms of CPU per second (3 together), load %s\n' "$v" "$r" "${extra:-defaults}" \
      $(((after - before) * 1000 / ticks_per_s / SECONDS_MEASURED)) "$(cut -d' ' -f1 /proc/loadavg)"
    bench_cleanup >&2
    BENCH_TMP="" # a fresh data directory for the next cluster
  done
done
