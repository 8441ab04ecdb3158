#!/usr/bin/env bash
# Optional: syscall/context-switch counts per AppendEntries round (perf tracepoint counting, in-kernel, cheap).
# Usage: TRANSPORT=tcp|http PROPOSERS=1 ./syscalls.sh   (one run, ~25 s)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
T="${TRANSPORT:-tcp}"; P="${PROPOSERS:-1}"; PAYLOAD="${PAYLOAD:-300}"
while [[ -e /tmp/bench-busy ]]; do sleep 10; done
dir="$HERE/runs/$(date +%Y%m%d-%H%M%S)-$T-perf"; mkdir -p "$dir"
base=$(( 43000 + RANDOM % 1000 * 3 ))
PIDS=(); PERFS=()
cleanup() { for p in "${PERFS[@]:-}" "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done; sleep 1; for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill -9 "$p" 2>/dev/null || true; done; rm -f /tmp/tcpprobe.measuring; }
trap cleanup EXIT INT TERM
touch /tmp/tcpprobe.measuring
export DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1
for i in 0 1 2; do
  dotnet "$HERE/bin/Probe.dll" --transport "$T" --id $i --ports "$base,$((base+1)),$((base+2))" --run "$dir" \
    --warmup 12 --warmupmax 12 --duration 10 --proposers "$P" --payload "$PAYLOAD" --clktck "$(getconf CLK_TCK)" --walpage "${WAL_PAGE:-4194304}" >"$dir/node$i.log" 2>&1 </dev/null &
  PIDS+=("$!")
done
sleep 15 # start-up + 12 s warm-up: inside the measured window from here
EV=context-switches,cpu-migrations,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync,syscalls:sys_enter_msync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_write,syscalls:sys_enter_read,syscalls:sys_enter_sendmsg,syscalls:sys_enter_recvmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom
for i in 0 1 2; do
  perf stat -x, -e "$EV" -p "${PIDS[$i]}" -o "$dir/perf.$i.csv" -- sleep 6 &
  PERFS+=("$!")
done
wait "${PERFS[@]}" 2>/dev/null || true; PERFS=()
for ((n = 0; n < 20; n++)); do [[ -f "$dir/result.txt" ]] && break; sleep 1; done
cat "$dir/result.txt"
leader=$(grep -l "leader (term" "$dir"/node*.log | head -1 | sed 's/.*node\([0-9]\).log/\1/')
rps=$(tr ' ' '\n' <"$dir/result.txt" | awk -F= '$1=="ae_rounds_per_follower_s"{print $2}')
for i in 0 1 2; do
  role=$([[ "$i" == "$leader" ]] && echo leader || echo follower)
  echo "node$i ($role): per round (rounds/s=$rps, 6 s)"
  awk -F, -v r="$rps" '$1 ~ /^[0-9]+$/ { printf "  %-32s %8.2f\n", $3, $1 / (r * 6) }' "$dir/perf.$i.csv"
done
