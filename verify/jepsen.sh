#!/usr/bin/env bash
# Longer Jepsen-style runs, with a summary:
#  1. in-process: clients through the router and straight to nodes on a few keys while a nemesis
#     stops the leader / a follower, partitions 2+1 and 1+1+1 (the transport's fault-injection
#     switch), and restarts all nodes;
#  2. on the Aspire app (real processes): kill -9 of leader and follower (restarted from disk) and
#     SIGSTOP/SIGCONT pauses longer than the election timeout, repeated.
# Each history is checked for linearizability (AspireCache.Tests/Verification); replicas must end
# identical (no lost or phantom acknowledged writes); applied indexes must never go backwards.
#   JEPSEN_SECONDS=300 JEPSEN_PROCESS_SECONDS=300 verify/jepsen.sh     (defaults 180 / 180)
set -euo pipefail
cd "$(dirname "$0")/.."
export JEPSEN_SECONDS="${JEPSEN_SECONDS:-180}"
export JEPSEN_PROCESS_SECONDS="${JEPSEN_PROCESS_SECONDS:-180}"
log="${TMPDIR:-/tmp}/aspirecache-jepsen.log"
summary="${TMPDIR:-/tmp}/aspirecache-jepsen-summary.md"
status=0
dotnet test AspireCache.Tests/AspireCache.Tests.csproj -c Release \
  --filter "FullyQualifiedName~ConsistencyUnderFaultsTests|FullyQualifiedName~ProcessFaultsTests" \
  --logger "console;verbosity=detailed" > "$log" 2>&1 || status=$?
{
  echo "# AspireCache Jepsen-style run — $(date -u +%FT%TZ)"
  echo "in-process ${JEPSEN_SECONDS}s, process faults ${JEPSEN_PROCESS_SECONDS}s; machine: $(nproc) cores"
  echo
  grep -E "^ *[0-9]+ operations|unknown outcomes resolved|writes acknowledged|Linearizability:|NOT LINEARIZABLE|^ *(Passed|Failed) AspireCache" "$log" | sed 's/^ */- /' | sort -u
} > "$summary"
cat "$summary"
echo "full log: $log"
exit $status
