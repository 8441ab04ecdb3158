# shellcheck shell=bash
# Helpers for the benchmark scripts: build, start/stop AspireCache (3 nodes + router, Release, no
# Aspire/dashboard) and etcd (3 members) on loopback ports, find the leader, run the bench tool.
#
#   source bench/lib.sh
#   trap bench_cleanup EXIT
#   bench_build
#   ac_start_cluster 7101 7102 7103 7100      # node1..3 ports, router port; data in a temp dir
#   ac_leader                                 # -> node2
#   bench_tool --target "$AC_ROUTER_URL" --duration 5s
#
# Everything started here is recorded in BENCH_PIDS and stopped (by PID) by bench_cleanup.

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# R2R=1: the nodes run from a self-contained composite ReadyToRun publish (bin/Release/r2r), as the node's
# container image does: the runtime, ASP.NET Core, DotNext and the node compiled ahead into one image, so a
# follower elected leader JITs less (bench/README.md, sessions 11 and 14).
# AC_NODE_DLL=...: any other build of the node.
if [[ "${R2R:-0}" == 1 ]]; then
  AC_NODE_DLL=${AC_NODE_DLL:-"$BENCH_ROOT/AspireCache.Node/bin/Release/r2r/AspireCache.Node.dll"}
else
  AC_NODE_DLL=${AC_NODE_DLL:-"$BENCH_ROOT/AspireCache.Node/bin/Release/net10.0/AspireCache.Node.dll"}
fi
AC_ROUTER_DLL=${AC_ROUTER_DLL:-"$BENCH_ROOT/AspireCache.Router/bin/Release/net10.0/AspireCache.Router.dll"}
AC_BENCH_DLL="$BENCH_ROOT/AspireCache.Bench/bin/Release/net10.0/AspireCache.Bench.dll"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

BENCH_PIDS=()
BENCH_TMP=""
declare -A AC_NODE_PID=()
declare -A AC_NODE_PORT=()
AC_ROUTER_PID=""
AC_ROUTER_URL=""
AC_DATA_ROOT=""
AC_TMPFS_DIR="" # AC_DATA_ON_TMPFS=1: AspireCache's data directories, on /dev/shm (removed by bench_cleanup)
declare -A ETCD_PID=() # etcd member name -> pid (for scripts that stop one member)
ETCD_CLIENT_URLS=""

log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

now_ms() { date +%s%3N; }

# Sets BENCH_TMP: one temp dir for data and logs, removed by bench_cleanup unless KEEP_TMP=1.
# (Call it directly, not in $(...): a subshell's assignment would be lost.)
bench_tmp_init() {
  if [[ -z "$BENCH_TMP" ]]; then
    BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/aspirecache-bench.XXXXXX")
  fi
}

# ac_data_root NAME: sets AC_DATA_ROOT, where AspireCache's nodes keep their data: $BENCH_TMP/NAME, on the disk
# being measured. AC_DATA_ON_TMPFS=1 (a diagnostic, never a result) puts it on tmpfs instead (/dev/shm): the
# WAL's msyncs and O_SYNC writes then reach no disk, so nothing is durable. etcd's data stays on disk. The
# difference between the two is what the log's durability costs (bench/README.md, session 30).
ac_data_root() {
  bench_tmp_init
  if [[ "${AC_DATA_ON_TMPFS:-0}" == 1 ]]; then
    if [[ -z "$AC_TMPFS_DIR" ]]; then
      local free_kb
      free_kb=$(df -Pk /dev/shm | awk 'NR == 2 {print $4}')
      # A full tmpfs would kill a node with SIGBUS in its mapped WAL, not fail cleanly (a container's is 64 MB).
      ((free_kb >= 2 * 1024 * 1024)) || { log "AC_DATA_ON_TMPFS=1 needs 2 GiB free on /dev/shm; it has $((free_kb / 1024)) MiB"; exit 2; }
      AC_TMPFS_DIR=$(mktemp -d /dev/shm/aspirecache-bench.XXXXXX)
    fi
    AC_DATA_ROOT="$AC_TMPFS_DIR/$1"
    log "AC_DATA_ON_TMPFS=1: AspireCache's data on tmpfs ($AC_DATA_ROOT): NOT DURABLE, a diagnostic only"
  else
    AC_DATA_ROOT="$BENCH_TMP/$1"
  fi
  mkdir -p "$AC_DATA_ROOT"
}

# ac_tmpfs_note: the line every summary of an AC_DATA_ON_TMPFS=1 run starts with (nothing otherwise).
ac_tmpfs_note() {
  if [[ "${AC_DATA_ON_TMPFS:-0}" == 1 ]]; then
    echo "**Diagnostic (AC_DATA_ON_TMPFS=1): AspireCache's WAL and snapshots were on tmpfs, so nothing it acknowledged was durable (etcd's data, where etcd ran, was on disk). Not a result: an upper bound for what the log's durability costs.**"
    echo
  fi
}

# bench_build [PROJECT...]: builds the projects in Release (default: Node, Router and the bench tool; skip with
# SKIP_BUILD=1) and checks that their assemblies are there (the node's and the router's as AC_NODE_DLL and
# AC_ROUTER_DLL name them, so another build given there is checked instead). R2R=1 also publishes the node.
bench_build() {
  local p f projects=("$@")
  ((${#projects[@]})) || projects=(AspireCache.Node AspireCache.Router AspireCache.Bench)
  if [[ "${SKIP_BUILD:-0}" == 1 ]]; then
    log "SKIP_BUILD=1: using the existing Release build"
  else
    for p in "${projects[@]}"; do
      log "building $p (Release)"
      (cd "$BENCH_ROOT" && dotnet build "$p/$p.csproj" -c Release -nologo -v quiet) >&2
    done
    if [[ "${R2R:-0}" == 1 && " ${projects[*]} " == *" AspireCache.Node "* ]]; then
      log "publishing AspireCache.Node self-contained, composite ReadyToRun (the container image's command; ~2 min) to $(dirname "$AC_NODE_DLL")"
      # A framework-dependent ReadyToRun publish leaves per-assembly images in obj/ that this publish would
      # take as up to date (and the reverse): the node then aborts at start. Start from a clean slate.
      rm -rf "$BENCH_ROOT"/AspireCache.Node/obj/Release/net10.0/linux-*
      (cd "$BENCH_ROOT" && dotnet publish AspireCache.Node/AspireCache.Node.csproj -c Release --use-current-runtime --self-contained true \
        -p:PublishReadyToRun=true -p:PublishReadyToRunComposite=true -o "$(dirname "$AC_NODE_DLL")" -nologo -v quiet) >&2
    fi
  fi
  for p in "${projects[@]}"; do
    case $p in
      AspireCache.Node) f=$AC_NODE_DLL ;;
      AspireCache.Router) f=$AC_ROUTER_DLL ;;
      AspireCache.Bench) f=$AC_BENCH_DLL ;;
      *) f="$BENCH_ROOT/$p/bin/Release/net10.0/$p.dll" ;;
    esac
    [[ -f "$f" ]] || { log "missing $f"; return 1; }
  done
}

# Runs the bench tool with the given arguments.
bench_tool() {
  dotnet "$AC_BENCH_DLL" "$@"
}

# Stops one PID: SIGTERM, then SIGKILL after 5 s (says so when the graceful stop was slow).
stop_pid() {
  local pid=$1 i start
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  start=$(now_ms)
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      (($(now_ms) - start > 2000)) && log "pid $pid took $(($(now_ms) - start)) ms to stop after SIGTERM"
      return 0
    fi
    sleep 0.1
  done
  log "pid $pid still running 5 s after SIGTERM: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Stops everything this shell started (by PID) and removes the temp dir unless KEEP_TMP=1.
bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    stop_pid "$pid"
  done
  BENCH_PIDS=()
  if [[ -n "$AC_TMPFS_DIR" && -d "$AC_TMPFS_DIR" ]]; then
    # The node and router logs live beside the data: with KEEP_TMP=1 they (and the data) are copied to disk first.
    [[ "${KEEP_TMP:-0}" == 1 && -n "$BENCH_TMP" && -d "$BENCH_TMP" ]] && cp -r "$AC_TMPFS_DIR" "$BENCH_TMP/tmpfs-data"
    rm -rf "$AC_TMPFS_DIR" # memory: removed
  fi
  AC_TMPFS_DIR=""
  if [[ -n "$BENCH_TMP" && -d "$BENCH_TMP" ]]; then
    if [[ "${KEEP_TMP:-0}" == 1 ]]; then
      log "kept $BENCH_TMP"
    else
      rm -rf "$BENCH_TMP"
    fi
  fi
}

# Fails if something already listens on one of the ports.
ports_free() {
  local p
  for p in "$@"; do
    if [[ -n $(ss -Htln "sport = :$p") ]]; then
      log "port $p is already in use"
      return 1
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# AspireCache
# ---------------------------------------------------------------------------------------------

# ac_start_cluster P1 P2 P3 ROUTER_PORT: starts node1..node3 and the router, waits for a leader.
ac_start_cluster() {
  AC_NODE_PORT[1]=$1 AC_NODE_PORT[2]=$2 AC_NODE_PORT[3]=$3
  local rport=$4 i
  ports_free "$1" "$2" "$3" "$rport"
  ac_data_root aspirecache
  for i in 1 2 3; do
    ac_start_node "$i"
  done
  ac_start_router "$rport"
  ac_wait_leader 60
  ac_wait_http "$AC_ROUTER_URL/health" 60
  log "AspireCache up: nodes ${AC_NODE_PORT[1]},${AC_NODE_PORT[2]},${AC_NODE_PORT[3]} router $rport leader $(ac_leader) (data $AC_DATA_ROOT)"
}

ac_node_url() { printf 'http://127.0.0.1:%s' "${AC_NODE_PORT[$1]}"; }

# ac_start_node I: (re)starts nodeI on its port with its data dir (a restart keeps the data).
# AC_NODE_EXTRA_ENV: extra NAME=value settings for every node (space-separated). Nodes and router run with
# inline socket completions as the AppHost starts them (AC_INLINE_COMPLETIONS=0: the runtime's default).
ac_start_node() {
  local i=$1
  local dir
  dir=$(dirname "$AC_NODE_DLL")
  (
    cd "$dir" || exit 1
    exec env \
      ASPNETCORE_URLS="http://127.0.0.1:${AC_NODE_PORT[$i]}" \
      ASPNETCORE_ENVIRONMENT=Production \
      Cluster__NodeId="node$i" \
      Cluster__Members__node1="$(ac_node_url 1)" \
      Cluster__Members__node2="$(ac_node_url 2)" \
      Cluster__Members__node3="$(ac_node_url 3)" \
      Cluster__DataDirectory="$AC_DATA_ROOT/node$i" \
      'Logging__LogLevel__Default=Warning' \
      'Logging__LogLevel__Microsoft.AspNetCore=Warning' \
      'Logging__LogLevel__Microsoft.Hosting.Lifetime=Information' \
      DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS="${AC_INLINE_COMPLETIONS:-1}" \
      ${AC_NODE_EXTRA_ENV:-} \
      dotnet "$AC_NODE_DLL"
  ) >>"$AC_DATA_ROOT/node$i.log" 2>&1 &
  AC_NODE_PID[$i]=$!
  BENCH_PIDS+=("$!")
  log "started node$i pid ${AC_NODE_PID[$i]} on ${AC_NODE_PORT[$i]}"
}

# ac_start_router PORT: the router in front of node1..3. AC_ROUTER_EXTRA_ENV: extra NAME=value settings
# (space-separated), e.g. Router__RateLimit__Enabled=false (bench/scale.sh).
ac_start_router() {
  local rport=$1 dir
  dir=$(dirname "$AC_ROUTER_DLL")
  AC_ROUTER_URL="http://127.0.0.1:$rport"
  (
    cd "$dir" || exit 1
    exec env \
      ASPNETCORE_URLS="$AC_ROUTER_URL" \
      ASPNETCORE_ENVIRONMENT=Production \
      services__node1__http__0="$(ac_node_url 1)" \
      services__node2__http__0="$(ac_node_url 2)" \
      services__node3__http__0="$(ac_node_url 3)" \
      'Logging__LogLevel__Default=Warning' \
      'Logging__LogLevel__Microsoft.Hosting.Lifetime=Information' \
      'Logging__LogLevel__Yarp=Warning' \
      DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS="${AC_INLINE_COMPLETIONS:-1}" \
      ${AC_ROUTER_EXTRA_ENV:-} \
      dotnet "$AC_ROUTER_DLL"
  ) >>"$AC_DATA_ROOT/router.log" 2>&1 &
  AC_ROUTER_PID=$!
  BENCH_PIDS+=("$!")
  log "started router pid $AC_ROUTER_PID on $rport"
}

# ac_check_alive: warns (and fails) when a node or the router started here is no longer running.
# (On a shared machine another session's cleanup may stop them; the numbers of that run are void.)
ac_check_alive() {
  local i ok=0
  for i in "${!AC_NODE_PID[@]}"; do
    if ! kill -0 "${AC_NODE_PID[$i]}" 2>/dev/null; then
      log "WARNING: node$i (pid ${AC_NODE_PID[$i]}) is not running; see $AC_DATA_ROOT/node$i.log"
      ok=1
    fi
  done
  if [[ -n "$AC_ROUTER_PID" ]] && ! kill -0 "$AC_ROUTER_PID" 2>/dev/null; then
    log "WARNING: the router (pid $AC_ROUTER_PID) is not running; see $AC_DATA_ROOT/router.log"
    ok=1
  fi
  return "$ok"
}

# ac_wait_http URL SECONDS: waits for a 2xx.
ac_wait_http() {
  local url=$1 timeout=${2:-30} deadline
  deadline=$(($(date +%s) + timeout))
  until curl -sf -o /dev/null --max-time 1 "$url"; do
    if (($(date +%s) >= deadline)); then
      log "timed out waiting for $url"
      return 1
    fi
    sleep 0.2
  done
}

# ac_curl I PATH [curl arguments...]: curl -s to nodeI's PATH. With AC_KEY set (a cluster with auth on,
# e.g. compare-apphost.sh) the request carries it as a bearer key.
ac_curl() {
  local node=$1 path=$2 auth=()
  shift 2
  [[ -n "${AC_KEY:-}" ]] && auth=(-H "Authorization: Bearer $AC_KEY")
  curl -s "${auth[@]}" "$@" "$(ac_node_url "$node")$path"
}

# ac_status I: /cluster/status of nodeI (empty on failure).
ac_status() {
  ac_curl "$1" /cluster/status --max-time "${2:-1}" 2>/dev/null || true
}

# ac_leader: id of the node that says it is the leader (empty if none).
ac_leader() {
  local i s
  for i in 1 2 3; do
    s=$(ac_status "$i")
    if [[ -n "$s" ]] && [[ $(jq -r '.role // empty' <<<"$s" 2>/dev/null) == leader ]]; then
      jq -r '.nodeId' <<<"$s"
      return 0
    fi
  done
}

# ac_wait_leader SECONDS: waits until every node is healthy (each knows the leader).
ac_wait_leader() {
  local timeout=${1:-60} i
  for i in 1 2 3; do
    ac_wait_http "$(ac_node_url "$i")/health" "$timeout"
  done
}

# ---------------------------------------------------------------------------------------------
# etcd
# ---------------------------------------------------------------------------------------------

# Installs Debian's etcd-server/etcd-client if etcd is not on PATH.
etcd_ensure_installed() {
  if ! command -v etcd >/dev/null 2>&1; then
    log "etcd not found: installing etcd-server etcd-client (apt)"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client >&2
  fi
  etcd --version | sed -n 1p >&2
}

# etcd_start_cluster C1 C2 C3 P1 P2 P3: 3 members, client ports C*, peer ports P*, temp data dirs.
etcd_start_cluster() {
  local c=("$1" "$2" "$3") p=("$4" "$5" "$6") i initial="" root
  ports_free "$@"
  bench_tmp_init
  root="$BENCH_TMP/etcd"
  mkdir -p "$root"
  for i in 0 1 2; do
    initial+="${initial:+,}e$((i + 1))=http://127.0.0.1:${p[$i]}"
  done
  ETCD_CLIENT_URLS=""
  # ETCD_OWN_SESSION=1: the three members in a session of their own (setsid), as DCP runs an AppHost's
  # resources: Linux schedules each session as one group (autogroup), so compare-apphost.sh gives etcd
  # the same standing against wrk (which stays in the script's session) as AspireCache's processes.
  local launcher=() pidfile="$root/pids"
  : >"$pidfile"
  [[ "${ETCD_OWN_SESSION:-0}" == 1 ]] && launcher=(setsid)
  "${launcher[@]}" bash -c '
    pidfile=$1 initial=$2 root=$3; shift 3
    for i in 0 1 2; do
      c=${1%%:*} p=${1##*:}; shift
      name="e$((i + 1))"
      etcd --name "$name" --data-dir "$root/$name" \
        --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
        --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
        --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token aspirecache-bench \
        --logger zap --log-level warn >>"$root/$name.log" 2>&1 &
      echo "$name $!" >>"$pidfile"
    done
    wait' etcd-cluster "$pidfile" "$initial" "$root" "${c[0]}:${p[0]}" "${c[1]}:${p[1]}" "${c[2]}:${p[2]}" </dev/null &
  BENCH_PIDS+=("$!")
  local deadline_pids=$(($(date +%s) + 10))
  until (($(wc -l <"$pidfile") == 3)); do
    (($(date +%s) < deadline_pids)) || { log "etcd members did not start"; return 1; }
    sleep 0.05
  done
  local name pid
  while read -r name pid; do
    ETCD_PID[$name]=$pid
    BENCH_PIDS+=("$pid")
    log "started etcd $name pid $pid${launcher:+ (own session)}"
  done <"$pidfile"
  for i in 0 1 2; do
    ETCD_CLIENT_URLS+="${ETCD_CLIENT_URLS:+,}http://127.0.0.1:${c[$i]}"
  done
  # Healthy = every member answers /health with "true" (a leader is known and it can serve).
  local url deadline
  deadline=$(($(date +%s) + 60))
  for url in ${ETCD_CLIENT_URLS//,/ }; do
    until [[ $(curl -s --max-time 1 "$url/health" 2>/dev/null || true) == *'"health":"true"'* ]]; do
      if (($(date +%s) >= deadline)); then
        log "etcd at $url did not become healthy"
        return 1
      fi
      sleep 0.2
    done
  done
  log "etcd up: $ETCD_CLIENT_URLS"
}

# etcd_check_alive: warns (and fails) when an etcd member started here is no longer running.
etcd_check_alive() {
  local name ok=0
  for name in "${!ETCD_PID[@]}"; do
    if ! kill -0 "${ETCD_PID[$name]}" 2>/dev/null; then
      log "WARNING: etcd $name (pid ${ETCD_PID[$name]}) is not running"
      ok=1
    fi
  done
  return "$ok"
}

# ---------------------------------------------------------------------------------------------
# AspireCache vs etcd: the workloads, runs and summary of compare-etcd.sh and compare-apphost.sh
# ---------------------------------------------------------------------------------------------
# The calling script sets RESULTS_DIR DURATION WARMUP WARM_CLUSTER CONNECTIONS VALUE_SIZE KEYS,
# AC_ROUTER_URL, AC_NODES (node URLs, comma-separated: the AC_DIRECT=1 rows) and ETCD_CLIENT_URLS;
# AC_TOOL_ARGS holds tool arguments for the AspireCache runs only (e.g. --api-key "$AC_KEY").

# compare_defaults: the settings both comparison scripts share, unless already set.
compare_defaults() {
  DURATION=${DURATION:-10s}
  WARMUP=${WARMUP:-2s}
  WARM_CLUSTER=${WARM_CLUSTER:-60s}   # unmeasured 50/50 load on each system first (JIT tiering takes 30-45 s under load here, pools, WAL); 0 to skip
  CONNECTIONS=${CONNECTIONS:-64}
  VALUE_SIZE=${VALUE_SIZE:-256}
  KEYS=${KEYS:-10000}
  ROUNDS=${ROUNDS:-1}
  [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "ROUNDS must be a whole number of at least 1, not '$ROUNDS'" >&2; exit 2; }
}

# list_errors FILE...: "errors in NAME: kind=count, ..." for each bench tool JSON result that has any.
list_errors() {
  local f errs
  for f in "$@"; do
    errs=$(jq -r '.errors | to_entries | map("\(.key)=\(.value)") | join(", ")' "$f")
    [[ -n "$errs" ]] && echo "errors in $(basename "$f" .json): $errs"
  done
  true
}

# name | tool arguments (the first read workload preloads every key; later ones reuse them)
COMPARE_WORKLOADS=(
  "writes|--mix write:100"
  "linearizable-reads|--mix read:100 --consistency linearizable --preload"
  "stale-reads|--mix read:100 --consistency stale"
  "mix-90-10|--mix read:90,write:10 --consistency linearizable"
)
AC_TOOL_ARGS=()
# The load generator of compare-etcd.sh and compare-apphost.sh: wrk (bench/wrk/kv.lua), unless AC_EXTRA_TOOL_ARGS
# asks the tool for something only it does (--client library): LOADGEN=tool keeps the tool for raw requests too.
# wrk took 18-47 us of CPU per request; the tool 60 (etcd) to 80-190 us (AspireCache), and its own
# scheduling delays on a saturated box (bench/README.md, session 25).
if [[ -z "${LOADGEN:-}" ]]; then
  if [[ -n "${AC_EXTRA_TOOL_ARGS:-}" ]]; then LOADGEN=tool; else LOADGEN=wrk; fi
fi
[[ $LOADGEN == wrk || $LOADGEN == tool ]] || { echo "LOADGEN must be wrk or tool, not '$LOADGEN'" >&2; exit 2; }
# loadgen_is_wrk: true when the comparisons' load generator is wrk.
loadgen_is_wrk() { [[ $LOADGEN == wrk ]]; }
# AC_EXTRA_TOOL_ARGS: more tool arguments for the AspireCache runs, e.g. "--client library" (what a .NET
# service's AspireCache.Client does, its read coalescing included: one client shared by the workers)
if [[ -n "${AC_EXTRA_TOOL_ARGS:-}" ]]; then read -r -a AC_TOOL_ARGS <<<"$AC_EXTRA_TOOL_ARGS"; fi
COMPARE_TERMS_BEFORE=""
COMPARE_TERMS_AFTER=""

# bench_warm_up SYSTEM TARGETS DURATION LOG [TOOL ARGS...]: DURATION (e.g. 60s; 0 skips) of unmeasured
# 50/50 load (keys under warm/; CONNECTIONS, VALUE_SIZE, KEYS or 64, 256, 10000), output to LOG. Under
# load a freshly started AspireCache cluster needs 30-45 s to reach its warm throughput here (tiered JIT).
bench_warm_up() {
  local system=$1 targets=$2 duration=$3 out=$4
  shift 4
  [[ "$duration" == 0 || "$duration" == 0s ]] && return 0
  log "warming up $system for $duration (not measured)"
  bench_tool --system "$system" --target "$targets" --label "warm-up/$system" --connections "${CONNECTIONS:-64}" \
    --duration "$duration" --warmup 0 --mix read:50,write:50 --value-size "${VALUE_SIZE:-256}" \
    --keys "${KEYS:-10000}" --key-prefix warm/ "$@" >"$out"
}

# compare_warm_up: WARM_CLUSTER of unmeasured load on each system (bench_warm_up), the same for both so
# that the first workload is not measured on a half-warm AspireCache cluster.
compare_warm_up() {
  local sys targets extra
  for sys in aspirecache etcd; do
    targets=$AC_ROUTER_URL extra=("${AC_TOOL_ARGS[@]}")
    [[ $sys == etcd ]] && targets=$ETCD_CLIENT_URLS extra=()
    bench_warm_up "$sys" "$targets" "$WARM_CLUSTER" "$RESULTS_DIR/warm-up.$sys.log" "${extra[@]}"
  done
}

# Installs Debian's wrk if it is not on PATH (LOADGEN=wrk).
wrk_ensure_installed() {
  if ! command -v wrk >/dev/null 2>&1; then
    log "wrk not found: installing wrk (apt)"
    apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2
  fi
}

# wrk's threads (WRK_THREADS, 3) and connections: CONNECTIONS rounded down to a multiple of the threads
# (wrk gives each thread the same number).
wrk_threads() { echo "${WRK_THREADS:-3}"; }
wrk_connections() { local t; t=$(wrk_threads); echo $((CONNECTIONS / t * t)); }

# wrk_settings SYSTEM TARGETS MIX CONSISTENT CONNECTIONS: exports bench/wrk/kv.lua's settings for a run (TARGETS
# comma-separated; KEYS and VALUE_SIZE as set by the caller; AspireCache's requests carry ASPIRECACHE_BENCH_KEY).
wrk_settings() {
  export WRK_SYSTEM=$1 WRK_TARGETS=${2//,/ } WRK_MIX=$3 WRK_CONSISTENT=$4 WRK_CONNECTIONS=$5 WRK_KEYS=$KEYS \
    WRK_PREFIX=bench/ WRK_VALUE_SIZE=$VALUE_SIZE WRK_TOKEN=""
  if [[ $1 == aspirecache ]]; then WRK_TOKEN=${ASPIRECACHE_BENCH_KEY:-}; fi
}

# compare_run_wrk NAME TAG SYSTEM TARGETS ARGS...: compare_run with wrk as the load generator (LOADGEN=wrk):
# the tool's workload arguments (--mix, --consistency, --preload) become bench/wrk/kv.lua's settings; the
# keys are preloaded by the tool (its --preload, 1 s of reads after it, not recorded), then wrk warms up for
# WARMUP and measures DURATION with WRK_THREADS (3) threads and CONNECTIONS rounded down to a multiple of
# them (63 for 64), one target per thread in turn (etcd: one member per thread, as the tool spreads its
# workers). Same result files as compare_run; CPU is snapshotted around the measured wrk run only.
compare_run_wrk() {
  local name=$1 tag=$2 system=$3 targets=$4 mix=100 consistent=true preload=0 threads conns t cpu
  shift 4
  while (($#)); do
    case $1 in
      --mix) mix=$(sed -n 's/.*read:\([0-9]*\).*/\1/p' <<<"$2"); mix=${mix:-0}; shift ;;
      --consistency) [[ $2 == linearizable ]] || consistent=false; shift ;;
      --preload) preload=1 ;;
    esac
    shift
  done
  threads=$(wrk_threads) conns=$(wrk_connections)
  log "run $name on $tag (wrk: $threads threads, $conns connections, reads ${mix}%)"
  if ((preload)); then
    bench_tool --system "$system" --target "$targets" --label "$name/$tag/preload" --connections "$CONNECTIONS" \
      --duration 1s --warmup 0 --value-size "$VALUE_SIZE" --keys "$KEYS" --mix read:100 --preload >"$RESULTS_DIR/$name.$tag.preload.txt"
  fi
  wrk_settings "$system" "$targets" "$mix" "$consistent" "$conns"
  t=${targets%%,*}
  WRK_OUT=/dev/null wrk -t"$threads" -c"$conns" -d"$WARMUP" -s "$BENCH_ROOT/bench/wrk/kv.lua" "$t" >/dev/null
  cut -d' ' -f1 /proc/loadavg >"$RESULTS_DIR/$name.$tag.load"
  cpu_snapshot >"$RESULTS_DIR/$name.$tag.cpu0"
  local TIMEFORMAT='%U %S'
  { time WRK_OUT="$RESULTS_DIR/$name.$tag.json.tmp" wrk -t"$threads" -c"$conns" -d"$DURATION" --latency \
      -s "$BENCH_ROOT/bench/wrk/kv.lua" "$t" >"$RESULTS_DIR/$name.$tag.txt"; } 2>"$RESULTS_DIR/$name.$tag.wrktime"
  cpu_snapshot >"$RESULTS_DIR/$name.$tag.cpu1"
  cpu=$(awk '{print $1 + $2}' "$RESULTS_DIR/$name.$tag.wrktime")
  jq --argjson cpu "$cpu" --arg lbl "$name/$tag" \
    '.clientCpuPercent = (($cpu * 100 / .elapsedSeconds) | round) | .label = $lbl' \
    "$RESULTS_DIR/$name.$tag.json.tmp" >"$RESULTS_DIR/$name.$tag.json"
  rm -f "$RESULTS_DIR/$name.$tag.json.tmp" "$RESULTS_DIR/$name.$tag.wrktime"
  printf '== %s (wrk): %s\n' "$name/$tag" "$(jq -c '{throughput, totalErrors, errors, total}' "$RESULTS_DIR/$name.$tag.json")" | tee -a "$RESULTS_DIR/$name.$tag.txt"
  cpu_by_process "$RESULTS_DIR/$name.$tag.cpu0" "$RESULTS_DIR/$name.$tag.cpu1" >"$RESULTS_DIR/$name.$tag.cpu"
  rm -f "$RESULTS_DIR/$name.$tag.cpu0" "$RESULTS_DIR/$name.$tag.cpu1"
  ac_check_alive || { log "AspireCache lost a process during $name/$tag: results are void"; exit 1; }
  etcd_check_alive || { log "etcd lost a member during $name/$tag: results are void"; exit 1; }
}

# compare_run NAME TAG SYSTEM TARGETS ARGS...   (results in $RESULTS_DIR/NAME.TAG.{json,txt,load})
# LOADGEN=wrk: compare_run_wrk instead (the tool only preloads).
compare_run() {
  local name=$1 tag=$2 system=$3 targets=$4 extra=()
  if loadgen_is_wrk; then
    compare_run_wrk "$@"
    return
  fi
  shift 4
  [[ $system == aspirecache ]] && extra=("${AC_TOOL_ARGS[@]}")
  log "run $name on $tag"
  # The machine is shared: note how busy it was when the run started (1-minute load average).
  cut -d' ' -f1 /proc/loadavg >"$RESULTS_DIR/$name.$tag.load"
  cpu_snapshot >"$RESULTS_DIR/$name.$tag.cpu0"
  bench_tool --system "$system" --target "$targets" --label "$name/$tag" \
    --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
    --value-size "$VALUE_SIZE" --keys "$KEYS" --distribution uniform \
    --json "$RESULTS_DIR/$name.$tag.json" "${extra[@]}" "$@" | tee "$RESULTS_DIR/$name.$tag.txt"
  cpu_snapshot >"$RESULTS_DIR/$name.$tag.cpu1"
  cpu_by_process "$RESULTS_DIR/$name.$tag.cpu0" "$RESULTS_DIR/$name.$tag.cpu1" >"$RESULTS_DIR/$name.$tag.cpu"
  rm -f "$RESULTS_DIR/$name.$tag.cpu0" "$RESULTS_DIR/$name.$tag.cpu1"
  ac_check_alive || { log "AspireCache lost a process during $name/$tag: results are void"; exit 1; }
  etcd_check_alive || { log "etcd lost a member during $name/$tag: results are void"; exit 1; }
}

# cpu_snapshot: "pid name cpu_ticks" for every process (utime + stime from /proc/PID/stat; the name
# is the executable's, e.g. AspireCache.Node, AspireCache.Router, dcp, Aspire.Dashboard, etcd, dotnet).
cpu_snapshot() {
  local f pid stat name rest
  for f in /proc/[0-9]*/stat; do
    pid=${f#/proc/}; pid=${pid%/stat}
    stat=$(cat "$f" 2>/dev/null) || continue
    name=$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null || echo "${stat#*(}")" | cut -d')' -f1)
    [[ $name == dotnet ]] && name=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | awk '{for (i = 2; i <= NF; i++) if ($i ~ /\.dll$/) {n = $i; sub(/.*\//, "", n); print n; exit} print "dotnet"}')
    rest=${stat##*) }
    awk -v pid="$pid" -v name="$name" '{print pid, name, $12 + $13}' <<<"$rest"
  done
}

# cpu_ticks_of PID...: utime + stime of those processes together (clock ticks, getconf CLK_TCK per second);
# fails when one of them is gone.
cpu_ticks_of() {
  local p s=0
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] || return 1
    s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$s"
}

# cpu_by_process BEFORE AFTER: CPU seconds each executable used in between (processes alive at both
# snapshots), most first: where a workload's CPU went (nodes, router, dashboard, DCP, etcd, the tool).
cpu_by_process() {
  local hz
  hz=$(getconf CLK_TCK)
  awk -v hz="$hz" 'NR == FNR {before[$1] = $3; next} ($1 in before) {used[$2] += ($3 - before[$1]) / hz}
    END {for (n in used) if (used[n] > 0.005) printf "%-40s %8.2f s\n", n, used[n]}' "$1" "$2" | sort -k2 -rn
}

# mixed_load_defaults DURATION: mixed_load's settings, each unless already set: DURATION as given, CONNECTIONS 64,
# VALUE_SIZE 256, KEYS 10000, MIX read:50,write:50.
mixed_load_defaults() {
  DURATION=${DURATION:-$1}
  CONNECTIONS=${CONNECTIONS:-64}
  VALUE_SIZE=${VALUE_SIZE:-256}
  KEYS=${KEYS:-10000}
  MIX=${MIX:-read:50,write:50}
}

# mixed_load LABEL JSON: stability.sh's load, also gc-under-load.sh's: DURATION of MIX (writes and linearizable
# reads) through the router at CONNECTIONS, KEYS keys of VALUE_SIZE bytes (preloaded; see mixed_load_defaults);
# results to JSON, the tool's output to stdout.
mixed_load() {
  bench_tool --target "$AC_ROUTER_URL" --label "$1" --connections "$CONNECTIONS" --duration "$DURATION" \
    --warmup 0 --mix "$MIX" --consistency linearizable --value-size "$VALUE_SIZE" --keys "$KEYS" --preload \
    --json "$2"
}

# compare_terms: the distinct Raft terms the three nodes report (elections under load).
compare_terms() { local i; for i in 1 2 3; do ac_status "$i" | jq -r '.term // "?"'; done | sort -u | tr '\n' ' '; }

# compare_workloads: every workload on AspireCache (router), etcd and, with AC_DIRECT=1, AspireCache's
# reads straight to the nodes; the terms before and after go to COMPARE_TERMS_BEFORE/AFTER.
# ROUNDS=N (default 1): each workload N times on both systems, odd rounds AspireCache first, even rounds
# etcd first (this box's speed drifts by tens of percent within minutes: one pair is one sample); round
# 1's files are NAME.TAG.*, later rounds' NAME.TAG.rN.*, and the summary adds each round and the medians.
compare_workloads() {
  local w name args loaded_args a r sfx
  COMPARE_TERMS_BEFORE=$(compare_terms)
  for w in "${COMPARE_WORKLOADS[@]}"; do
    name=${w%%|*}
    # WORKLOADS="writes linearizable-reads": only these (default: all four)
    [[ -z "${WORKLOADS:-}" || " $WORKLOADS " == *" $name "* ]] || continue
    read -r -a args <<<"${w#*|}"
    loaded_args=() # the same without --preload, for every run after the first (the keys are there by then)
    for a in "${args[@]}"; do [[ "$a" != --preload ]] && loaded_args+=("$a"); done
    for ((r = 1; r <= ${ROUNDS:-1}; r++)); do
      sfx=$(compare_round_suffix "$r")
      ((r == 1)) || args=("${loaded_args[@]}")
      if ((r % 2 == 1)); then
        compare_run "$name" "aspirecache$sfx" aspirecache "$AC_ROUTER_URL" "${args[@]}"
        compare_run "$name" "etcd$sfx" etcd "$ETCD_CLIENT_URLS" "${args[@]}"
      else
        compare_run "$name" "etcd$sfx" etcd "$ETCD_CLIENT_URLS" "${args[@]}"
        compare_run "$name" "aspirecache$sfx" aspirecache "$AC_ROUTER_URL" "${args[@]}"
      fi
    done
    if [[ "${AC_DIRECT:-0}" == 1 && "$name" == *reads ]]; then
      compare_run "$name" aspirecache-direct aspirecache "$AC_NODES" "${loaded_args[@]}"
    fi
  done
  COMPARE_TERMS_AFTER=$(compare_terms)
}

# compare_round_suffix R: what round R adds to a run's tag and file names ("" for round 1, ".rR" after).
compare_round_suffix() { (($1 == 1)) || printf '.r%s' "$1"; }

# median_of VALUE...: the median of the arguments that are numbers (the mean of the middle two for an even
# count); "?" when none is.
median_of() { printf '%s\n' "$@" | { grep -E '^[0-9]+(\.[0-9]+)?$' || true; } | sort -g | awk '{a[NR] = $1} END {if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2); else print "?"}'; }

# num_or FORMAT FALLBACK VALUE: VALUE printed with FORMAT when it is a number, else FALLBACK.
num_or() { if [[ $3 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then printf "$1" "$3"; else printf '%s' "$2"; fi; }

# compare_summary TITLE [NOTE...]: the side-by-side table to $RESULTS_DIR/summary.md (and stdout), each
# NOTE as a paragraph after the terms line, then the table once more as aligned columns.
compare_summary() {
  local title=$1 summary="$RESULTS_DIR/summary.md"
  shift
  _j() { jq -r "$2" "$RESULTS_DIR/$1.json"; }
  _ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }
  {
    local w name rows row ac label e ac_tp etcd_tp ac_p50 etcd_p50 ac_p99 etcd_p99 ac_err etcd_err note f b errs
    echo "$title"
    echo
    ac_tmpfs_note
    echo "| workload | AspireCache ops/s | etcd ops/s | ratio | AC p50 ms | etcd p50 ms | AC p99 ms | etcd p99 ms | p99 ratio | AC errors | etcd errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for w in "${COMPARE_WORKLOADS[@]}"; do
      name=${w%%|*}
      [[ -f "$RESULTS_DIR/$name.aspirecache.json" ]] || continue # not run (WORKLOADS)
      rows=("$name.aspirecache|$name")
      [[ -f "$RESULTS_DIR/$name.aspirecache-direct.json" ]] && rows+=("$name.aspirecache-direct|$name (AC direct to nodes)")
      for row in "${rows[@]}"; do
        ac=${row%%|*} label=${row#*|} e="$name.etcd"
        ac_tp=$(_j "$ac" .throughput) etcd_tp=$(_j "$e" .throughput)
        ac_p50=$(_j "$ac" .total.p50Ms) etcd_p50=$(_j "$e" .total.p50Ms)
        ac_p99=$(_j "$ac" .total.p99Ms) etcd_p99=$(_j "$e" .total.p99Ms)
        ac_err=$(_j "$ac" .totalErrors) etcd_err=$(_j "$e" .totalErrors)
        printf '| %s | %.0f | %.0f | %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %s |\n' \
          "$label" "$ac_tp" "$etcd_tp" "$(_ratio "$ac_tp" "$etcd_tp")" "$ac_p50" "$etcd_p50" \
          "$ac_p99" "$etcd_p99" "$(_ratio "$ac_p99" "$etcd_p99")" "$ac_err" "$etcd_err"
      done
    done
    echo
    if ((${ROUNDS:-1} > 1)); then
      local r sfx ratios ac_tps etcd_tps ac_p99s etcd_p99s ratio
      echo "Each round (ROUNDS=$ROUNDS: odd rounds AspireCache first, even rounds etcd first; the table above is round 1) and the medians:"
      echo
      echo "| workload | round | AspireCache ops/s | etcd ops/s | ratio | AC p99 ms | etcd p99 ms |"
      echo "|---|---|---:|---:|---:|---:|---:|"
      for w in "${COMPARE_WORKLOADS[@]}"; do
        name=${w%%|*}
        [[ -f "$RESULTS_DIR/$name.aspirecache.json" ]] || continue
        ratios=() ac_tps=() etcd_tps=() ac_p99s=() etcd_p99s=()
        for ((r = 1; r <= ROUNDS; r++)); do
          sfx=$(compare_round_suffix "$r")
          [[ -f "$RESULTS_DIR/$name.aspirecache$sfx.json" && -f "$RESULTS_DIR/$name.etcd$sfx.json" ]] || continue
          ac_tp=$(_j "$name.aspirecache$sfx" .throughput) etcd_tp=$(_j "$name.etcd$sfx" .throughput)
          ac_p99=$(_j "$name.aspirecache$sfx" .total.p99Ms) etcd_p99=$(_j "$name.etcd$sfx" .total.p99Ms)
          ratio=$(_ratio "$ac_tp" "$etcd_tp")
          ratios+=("$ratio") ac_tps+=("$ac_tp") etcd_tps+=("$etcd_tp") ac_p99s+=("$ac_p99") etcd_p99s+=("$etcd_p99")
          printf '| %s | %s | %.0f | %.0f | %s | %.2f | %.2f |\n' "$name" "$r" "$ac_tp" "$etcd_tp" "$ratio" "$ac_p99" "$etcd_p99"
        done
        ((${#ratios[@]} > 0)) && printf '| %s | **median** | %s | %s | **%s** | %s | %s |\n' "$name" \
          "$(num_or '%.0f' '?' "$(median_of "${ac_tps[@]}")")" "$(num_or '%.0f' '?' "$(median_of "${etcd_tps[@]}")")" \
          "$(num_or '%.2f' 'n/a' "$(median_of "${ratios[@]}")")" "$(num_or '%.2f' '?' "$(median_of "${ac_p99s[@]}")")" "$(num_or '%.2f' '?' "$(median_of "${etcd_p99s[@]}")")"
      done
      echo
    fi
    echo "ratio = AspireCache / etcd (throughput: higher is better for AspireCache; p99: lower is better)."
    echo
    if loadgen_is_wrk; then
      echo "Load generator: wrk $(wrk --version 2>&1 | awk 'NR == 1 {print $2}') (\`LOADGEN=wrk\`, bench/wrk/kv.lua), $(wrk_threads) threads, $(wrk_connections) connections, the same keys, values and requests as the tool's raw clients; the tool only preloaded the keys."
    else
      echo "Load generator: the bench tool (AspireCache.Bench, .NET HttpClient; \`LOADGEN=wrk\` drives both systems with wrk instead)."
    fi
    echo
    echo "AspireCache Raft term before the measured runs: ${COMPARE_TERMS_BEFORE}— after: ${COMPARE_TERMS_AFTER}(unchanged = no election under load)."
    for note in "$@"; do
      echo
      echo "$note"
    done
    echo
    echo "Conditions per run (1-min load average when it started; CPU of the load generator itself, % of one core):"
    for f in "$RESULTS_DIR"/*.json; do
      b=$(basename "$f" .json)
      printf -- '- %s: load %s, client CPU %.0f%%\n' "$b" "$(cat "$RESULTS_DIR/$b.load" 2>/dev/null || echo '?')" "$(jq -r .clientCpuPercent "$f")"
    done
    echo
    echo "Where the CPU went (µs of CPU per operation by executable, from /proc/PID/stat over the run: warm-up and preload included, estimated as throughput x time + preloaded keys; the load generator is not counted):"
    for f in "$RESULTS_DIR"/*.json; do
      b=$(basename "$f" .json)
      [[ -f "$RESULTS_DIR/$b.cpu" ]] || continue
      printf -- '- %s: %s\n' "$b" "$(awk -v ops="$(jq -r '(.throughput * (.elapsedSeconds + .options.warmupSeconds)) + (if .options.preload then .options.keys else 0 end)' "$f")" \
        'ops > 0 && $2 * 1e6 / ops >= 5 {printf "%s%s %.0f", sep, $1, $2 * 1e6 / ops; sep = ", "}' "$RESULTS_DIR/$b.cpu")"
    done
    list_errors "$RESULTS_DIR"/*.json
  } | tee "$summary"

  echo
  _columns '^| workload | AspireCache'
  if grep -q '^| workload | round |' "$summary"; then
    echo
    _columns '^| workload | round |'
  fi
}

# _columns HEADER: compare_summary's markdown table whose header line matches HEADER, as aligned columns.
_columns() {
  column -t -s '|' <(sed -n "/$1/,/^\$/p" "$RESULTS_DIR/summary.md" | grep '^| ' | grep -v -- '---' | sed 's/^| //; s/ |$//; s/\*\*//g') || true
}

# post_batch B: batch B of load_keys (run by xargs in a child bash: everything it reads is exported).
# load_keys reads BATCH, PARALLEL, KEY_PREFIX and VALUE_SIZE (memory.sh and rejoin.sh set them).
post_batch() {
  local b=$1 start n attempt code
  start=$((b * BATCH))
  n=$((KEYS_N - start < BATCH ? KEYS_N - start : BATCH))
  for attempt in 1 2 3 4 5; do
    code=$(awk -v s="$start" -v n="$n" -v p="$KEY_PREFIX" -v w="$KEY_DIGITS" -v v="$VALUE_B64" \
      'BEGIN { printf "{\"set\":{"; for (i = 0; i < n; i++) printf "%s\"%s%0*d\":\"%s\"", (i ? "," : ""), p, w, s + i, v; print "}}" }' |
      curl -s -o /dev/null -w '%{http_code}' --max-time 60 -X POST -H 'Content-Type: application/json' \
        --data-binary @- "$ROUTER/cache/batch" || true)
    [[ "$code" == 2* ]] && return 0
    sleep $((attempt))
  done
  echo "batch $b failed (HTTP $code)" >&2
  return 1
}
export -f post_batch

# load_keys N: N keys of VALUE_SIZE bytes through the router, BATCH per request, PARALLEL at a time.
load_keys() {
  local n=$1 digits
  digits=${#n}
  ((digits < 6)) && digits=6 # as BenchRunner.BuildKeys: D(max(6, digits of the count))
  # One random value for every key: the node keeps a separate copy per key either way.
  export KEYS_N=$n KEY_DIGITS=$digits BATCH KEY_PREFIX ROUTER=$AC_ROUTER_URL
  VALUE_B64=$(head -c "$VALUE_SIZE" /dev/urandom | base64 -w0)
  export VALUE_B64
  seq 0 $(((n + BATCH - 1) / BATCH - 1)) | xargs -P "$PARALLEL" -I{} bash -c 'post_batch {}'
}
