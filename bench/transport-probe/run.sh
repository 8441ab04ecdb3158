#!/usr/bin/env bash
# Raft transport probe: 3 DotNext members as 3 processes on localhost, HTTP vs TCP transport.
# Knobs (env): ROUNDS=3 WARMUP=3 DURATION=10 PROPOSERS=64 PAYLOAD=300 LOWER=150 UPPER=300
#              WARMUP is the minimum warm-up; it extends until no member's tiered-JIT thread is busy (max WARMUP_MAX=15)
#              WAL_PAGE=4194304 (WriteAheadLog.Options.ChunkSize; AspireCache's Cluster:WalPageBytes default)
#              INLINE=1 (DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 as the AspireCache AppHost sets; 0 = off)
#              TRANSPORTS="http tcp" (order of the first round; alternates every round)  NOBUILD=1 skips the build
#              QUIET_IDLE=85 QUIET_WAIT=60: before each run wait up to QUIET_WAIT s for machine idle >= QUIET_IDLE %
#              NOISY_PCT=25 RETRIES=2: a run during which other processes used > NOISY_PCT % of a core is repeated
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROUNDS="${ROUNDS:-3}"; WARMUP="${WARMUP:-3}"; WARMUP_MAX="${WARMUP_MAX:-15}"; DURATION="${DURATION:-10}"
PROPOSERS="${PROPOSERS:-64}"; PAYLOAD="${PAYLOAD:-300}"; LOWER="${LOWER:-150}"; UPPER="${UPPER:-300}"
WAL_PAGE="${WAL_PAGE:-4194304}"; INLINE="${INLINE:-1}"; TRANSPORTS="${TRANSPORTS:-http tcp}"
CLK_TCK="$(getconf CLK_TCK)"
BIN="$HERE/bin/Probe.dll"
RUNS="${DATA_ROOT:-${TMPDIR:-/tmp}/transport-probe-runs}"; mkdir -p "$RUNS" # DATA_ROOT=/dev/shm/transport-probe: WAL on tmpfs (diagnostic only)
MARK=/tmp/tcpprobe.measuring

if [[ "${NOBUILD:-0}" != 1 ]]; then
  (cd "$HERE/src" && dotnet build -c Release -o "$HERE/bin" -nologo -v q 2>&1 | grep -E ": error |: warning " || true)
fi
[[ -f "$BIN" ]] || { echo "build failed: $BIN missing" >&2; exit 1; }

PIDS=()
cleanup() {
  local p n
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
  for ((n = 0; n < 20; n++)); do
    local alive=0
    for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null && alive=1; done
    (( alive )) || break
    sleep 0.1
  done
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && wait "$p" 2>/dev/null || true; done
  PIDS=()
  rm -f "$MARK"
}
trap cleanup EXIT INT TERM

idle_pct() { # machine-wide idle % over 1 s
  local a b
  read -r -a a < <(head -1 /proc/stat); sleep 1; read -r -a b < <(head -1 /proc/stat)
  local ta=0 tb=0 i
  for ((i = 1; i < ${#a[@]}; i++)); do ta=$((ta + a[i])); tb=$((tb + b[i])); done
  echo $(( ( (b[4] + b[5]) - (a[4] + a[5]) ) * 100 / (tb - ta > 0 ? tb - ta : 1) ))
}
wait_not_busy() {
  while [[ -e /tmp/bench-busy ]]; do echo "  (waiting: /tmp/bench-busy exists)" >&2; sleep 10; done
  # Shared machine: give other work up to QUIET_WAIT s to calm down (idle >= QUIET_IDLE %) before measuring.
  local n idle
  for ((n = 0; n < ${QUIET_WAIT:-60}; n += 2)); do
    idle=$(idle_pct); (( idle >= ${QUIET_IDLE:-85} )) && break
    sleep 1
  done
  IDLE_BEFORE=$idle
  [[ -e /tmp/bench-busy ]] && wait_not_busy || true
}

run_one() { # transport portbase
  local t="$1" base="$2" ts dir ports
  ts="$(date +%Y%m%d-%H%M%S)"; dir="$RUNS/$ts-$t"; rm -rf "$dir"; mkdir -p "$dir"
  while ss -ltnH 2>/dev/null | awk '{print $4}' | grep -Eq ":($base|$((base+1))|$((base+2)))\$"; do base=$((base + 3)); done
  ports="$base,$((base+1)),$((base+2))"
  wait_not_busy
  printf "round %d " "$ROUND"
  touch "$MARK"
  for i in 0 1 2; do
    if [[ "$INLINE" == 1 ]]; then export DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1; else unset DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS; fi
    dotnet "$BIN" --transport "$t" --id "$i" --ports "$ports" --run "$dir" \
      --warmup "$WARMUP" --warmupmax "$WARMUP_MAX" --duration "$DURATION" --proposers "$PROPOSERS" --payload "$PAYLOAD" \
      --lower "$LOWER" --upper "$UPPER" --clktck "$CLK_TCK" --walpage "$WAL_PAGE" >"$dir/node$i.log" 2>&1 </dev/null &
    PIDS+=("$!")
  done
  local limit=$(( $(printf '%.0f' "$WARMUP_MAX") + $(printf '%.0f' "$DURATION") + 40 )) waited=0
  while [[ ! -f "$dir/result.txt" && $waited -lt $limit ]]; do sleep 1; waited=$((waited+1)); done
  cleanup
  [[ "${KEEP_DATA:-0}" == 1 ]] || rm -rf "$dir"/node0 "$dir"/node1 "$dir"/node2 # the WALs (logs and results stay)
  LAST_FOREIGN=0
  if [[ -f "$dir/result.txt" ]]; then
    LAST_FOREIGN=$(tr ' ' '\n' <"$dir/result.txt" | awk -F= '$1=="foreign_cpu_pct"{printf "%.0f", $2}')
    awk -v t="$t" '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%-5s writes/s=%6s p50=%6sms p99=%6sms | CPU us/write L=%6s F1=%6s F2=%6s | ctxsw/write L=%5s F1=%5s F2=%5s | F1 CPU us/round=%5s cs/round=%5s entries/round=%5s rounds/s=%5s | CPU%% L=%s F1=%s F2=%s (sys share %s/%s/%s%%) errors=%s term=%s idle_before=%s%% foreign_cpu=%s%% warmup=%ss jit%%=%s/%s/%s\n",
        t, v["writes_s"], v["p50_ms"], v["p99_ms"], v["cpu_us_leader"], v["cpu_us_f1"], v["cpu_us_f2"],
        v["cs_leader"], v["cs_f1"], v["cs_f2"], v["cpu_us_per_round_f1"], v["cs_per_round_f1"], v["entries_per_round"],
        v["ae_rounds_per_follower_s"], v["cpu_pct_leader"], v["cpu_pct_f1"], v["cpu_pct_f2"], v["sys_pct_of_cpu_leader"], v["sys_pct_of_cpu_f1"], v["sys_pct_of_cpu_f2"], v["errors"], v["term"], idle, v["foreign_cpu_pct"], v["warmup_s"], v["jit_pct_of_cpu_leader"], v["jit_pct_of_cpu_f1"], v["jit_pct_of_cpu_f2"] }' idle="$IDLE_BEFORE" "$dir/result.txt"
  else
    echo "$t: NO RESULT (idle before: $IDLE_BEFORE%) (see $dir/node*.log)"; tail -n 5 "$dir"/node*.log || true
  fi
}

echo "# $(date -u +%FT%TZ) rounds=$ROUNDS warmup=${WARMUP}-${WARMUP_MAX}s duration=${DURATION}s proposers=$PROPOSERS payload=${PAYLOAD}B election=${LOWER}-${UPPER}ms walpage=${WAL_PAGE} inline=$INLINE nproc=$(nproc) load=$(cut -d' ' -f1-3 /proc/loadavg)"
read -r -a order <<<"$TRANSPORTS"
port=$(( 41000 + RANDOM % 2000 * 3 ))
for ((r = 1; r <= ROUNDS; r++)); do
  if (( r % 2 == 1 )); then seq=("${order[@]}"); else seq=(); for ((k=${#order[@]}-1; k>=0; k--)); do seq+=("${order[k]}"); done; fi
  for t in "${seq[@]}"; do
    for ((try = 0; try <= ${RETRIES:-2}; try++)); do
      ROUND="$r"
      run_one "$t" "$port"
      port=$((port + 10))
      (( ${LAST_FOREIGN:-0} > ${NOISY_PCT:-25} )) || break
      (( try < ${RETRIES:-2} )) && echo "        ^ noisy (other processes used ${LAST_FOREIGN}% of a core during the window): repeating"
    done
  done
done
