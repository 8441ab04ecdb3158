#!/usr/bin/env bash
# Longer Jepsen-style run: concurrent clients (router + direct) on a few keys while a nemesis
# crashes leaders/followers and partitions the network (2+1, 1+1+1); the history is checked for
# linearizability, replicas for convergence, applied indexes for monotonicity.
#   JEPSEN_SECONDS=300 verify/jepsen.sh      (default 180)
set -euo pipefail
cd "$(dirname "$0")/.."
export JEPSEN_SECONDS="${JEPSEN_SECONDS:-180}"
dotnet test AspireCache.Tests/AspireCache.Tests.csproj -c Release \
  --filter "FullyQualifiedName~ConsistencyUnderFaultsTests" \
  --logger "console;verbosity=detailed" 2>&1 | tee "${TMPDIR:-/tmp}/aspirecache-jepsen.log" \
  | grep -E "operations|acknowledged|Linearizability|NOT LINEARIZABLE|Passed|Failed" || true
grep -q "Passed AspireCache.Tests.Verification.ConsistencyUnderFaultsTests" "${TMPDIR:-/tmp}/aspirecache-jepsen.log"
