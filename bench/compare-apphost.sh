#!/usr/bin/env bash
# AspireCache the way users run it — its AppHost (`dotnet run --project AspireCache.AppHost`, Release):
# DCP, the Aspire dashboard, OpenTelemetry exported to it (traces on), authentication on, the catalog
# and console services beside the cluster — against the same 3-member etcd 3.4 and the same workloads,
# tool and summary as compare-etcd.sh (compare_* in lib.sh):
#   writes only · linearizable reads · stale/serializable reads · 90/10 read/write mix
# 64 connections, 256-byte values, 10,000 keys (uniform), fixed duration.
#
#   bench/compare-apphost.sh                          # DURATION=10s WARMUP=2s WARM_CLUSTER=60s
#   WORKLOADS="writes linearizable-reads" bench/compare-apphost.sh   # only these of the four (stale reads need linearizable-reads' preload)
#   ROUNDS=5 WORKLOADS=writes bench/compare-apphost.sh     # each workload 5 times on both, alternating who goes first; per round and medians
#   DURATION=3s WARM_CLUSTER=0 bench/compare-apphost.sh   # smoke run
#   AC_DIRECT=1 bench/compare-apphost.sh              # also AspireCache reads straight to the nodes (fixed ports)
#   QUIET_LOGS=1 bench/compare-apphost.sh             # services log warnings only (default: their appsettings)
#   RESULTS_DIR=/tmp/x SKIP_BUILD=1 KEEP_TMP=1 bench/compare-apphost.sh
#   APPHOST_EXTRA_ARGS=--AspireCache:InlineSocketCompletions=false bench/compare-apphost.sh   # more AppHost arguments (an A/B)
#   AC_DATA_ON_TMPFS=1 ROUNDS=3 WORKLOADS=writes bench/compare-apphost.sh   # diagnostic: AspireCache's data on tmpfs (not durable), etcd's on disk
#   AC_EXTRA_TOOL_ARGS="--client library" bench/compare-apphost.sh   # AspireCache driven by AspireCache.Client (one shared by the workers)
#   LOADGEN=tool bench/compare-apphost.sh              # raw requests from the bench tool (.NET) instead of wrk, the default
#                                                  # (wrk: bench/wrk/kv.lua, 3 threads, 63 connections; the tool preloads)
#
# The AppHost is configured on its command line and environment only (nothing is written to its user
# secrets): router port 7280, node client ports 7281-7283 (fixed, for AC_DIRECT), data in the temp dir,
# dashboard on 7287 (OTLP 7288, resource service 7289; what the `http` launch profile sets, on other
# ports), every secret parameter given as Parameters__<name> (cache-key = the admin key the tool uses);
# etcd on 7291-7293 (peers 7294-7296). PORT_BASE=7380 moves them all.
# Everything it starts (dotnet run, the AppHost, DCP, the dashboard, the services) inherits a marker
# variable; on exit the AppHost gets SIGTERM (it stops its resources), and whatever still carries the
# marker 30 s later is killed by PID.
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

compare_defaults   # DURATION WARMUP WARM_CLUSTER CONNECTIONS VALUE_SIZE KEYS ROUNDS (lib.sh)
QUIET_LOGS=${QUIET_LOGS:-0}
START_TIMEOUT=${START_TIMEOUT:-300}  # seconds for the AppHost to bring up DCP, the dashboard, nodes and router
RESULTS_DIR=${RESULTS_DIR:-/tmp/aspirecache-bench-results/compare-apphost-$(date +%Y%m%d-%H%M%S)}

PORT_BASE=${PORT_BASE:-7280}   # router; nodes +1..+3, dashboard +7, OTLP +8, resource service +9, etcd +11..+16
ROUTER_PORT=$PORT_BASE
NODE_PORTS=($((PORT_BASE + 1)) $((PORT_BASE + 2)) $((PORT_BASE + 3)))
DASHBOARD_PORT=$((PORT_BASE + 7)) OTLP_PORT=$((PORT_BASE + 8)) RESOURCE_SERVICE_PORT=$((PORT_BASE + 9))
APPHOST_MARKER="aspirecache-bench-apphost-$$-$RANDOM"
APPHOST_PID=""

random_key() { head -c 256 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32; }

# PIDs of every process that carries this run's marker (the AppHost and all it started).
apphost_pids() {
  grep -lzx "ASPIRECACHE_BENCH_RUN=$APPHOST_MARKER" /proc/[0-9]*/environ 2>/dev/null | sed 's#^/proc/##; s#/environ$##' || true
}

# PID of the marked process whose executable is NAME (AspireCache.Node, not its `dotnet run` wrapper)
# and whose environment has VAR (e.g. Cluster__NodeId=node1; empty: any).
apphost_pid_of() {
  local name=$1 var=${2:-} pid exe
  for pid in $(apphost_pids); do
    exe=$(tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | head -1 || true)
    [[ "$(basename "$exe")" == "$name" || "$(basename "$exe")" == "$name.dll" ]] || continue
    [[ -z "$var" ]] || { tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "$var"; } || continue
    echo "$pid"
    return 0
  done
  true
}

# One variable of a process's environment (empty when absent).
env_of() { { tr '\0' '\n' <"/proc/$1/environ" | sed -n "s/^$2=//p" | head -1; } 2>/dev/null || true; }

# SIGTERM to the AppHost (its process group: dotnet run + the AppHost, which stops its resources
# through DCP), then SIGKILL by PID for anything still marked after 30 s. Says what is left, if anything.
apphost_stop() {
  [[ -n "$APPHOST_PID" ]] || return 0
  local pgid left i
  pgid=$(ps -o pgid= -p "$APPHOST_PID" 2>/dev/null | tr -d ' ' || true)
  if [[ -n "$pgid" && "$pgid" == "$APPHOST_PID" ]]; then
    kill -TERM -- "-$pgid" 2>/dev/null || true
  else
    kill -TERM "$APPHOST_PID" 2>/dev/null || true
  fi
  for ((i = 0; i < 300; i++)); do
    left=$(apphost_pids | wc -l)
    ((left == 0)) && break
    sleep 0.1
  done
  if ((left > 0)); then
    log "AppHost processes still running 30 s after SIGTERM: SIGKILL $(apphost_pids | tr '\n' ' ')"
    for i in $(apphost_pids); do kill -KILL "$i" 2>/dev/null || true; done
    sleep 1
  fi
  wait "$APPHOST_PID" 2>/dev/null || true
  left=$(apphost_pids | tr '\n' ' ')
  if [[ -n "$left" ]]; then
    log "WARNING: still running after SIGKILL: $left"
  else
    log "AppHost stopped: no process of this run is left (dotnet run, AppHost, DCP, dashboard, nodes, router, catalog, console)"
  fi
  APPHOST_PID=""
}

trap 'apphost_stop; bench_cleanup' EXIT
trap 'exit 130' INT TERM

mkdir -p "$RESULTS_DIR"
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores; the machine may be shared)"

etcd_ensure_installed
if loadgen_is_wrk; then wrk_ensure_installed; fi
# The AppHost's build builds every project it runs (nodes, router, catalog, console) in Release.
bench_build AspireCache.AppHost AspireCache.Bench

# DCP starts the AppHost's resources in a session of their own, and Linux schedules each session as one
# group (autogroup, on by default on desktop and many server kernels): with etcd in the script's session,
# beside wrk, the two systems would not stand alike against the load generator. ETCD_OWN_SESSION=1 gives
# etcd a session of its own too (ETCD_OWN_SESSION=0: etcd beside wrk, as before 2026-12-07).
export ETCD_OWN_SESSION=${ETCD_OWN_SESSION:-1}
etcd_start_cluster $((PORT_BASE + 11)) $((PORT_BASE + 12)) $((PORT_BASE + 13)) $((PORT_BASE + 14)) $((PORT_BASE + 15)) $((PORT_BASE + 16))

# ---- AspireCache through its AppHost ---------------------------------------------------------
ports_free "$ROUTER_PORT" "${NODE_PORTS[@]}" "$DASHBOARD_PORT" "$OTLP_PORT" "$RESOURCE_SERVICE_PORT"
ac_data_root apphost-data
AC_KEY=$(random_key)
log_env=()
[[ "$QUIET_LOGS" == 1 ]] && log_env=('Logging__LogLevel__Default=Warning' 'Logging__LogLevel__Microsoft.Hosting.Lifetime=Information')
log "starting the AppHost (dashboard http://127.0.0.1:$DASHBOARD_PORT, OTLP http://127.0.0.1:$OTLP_PORT, router $ROUTER_PORT, nodes ${NODE_PORTS[*]}; log $BENCH_TMP/apphost.log)"
# The environment of the `http` launch profile (Development, unsecured transport, dashboard endpoints),
# with the bench's ports. Every process the AppHost starts inherits it (and the marker).
(
  cd "$BENCH_ROOT" || exit 1
  exec setsid env \
    ASPIRECACHE_BENCH_RUN="$APPHOST_MARKER" \
    ASPNETCORE_ENVIRONMENT=Development \
    DOTNET_ENVIRONMENT=Development \
    ASPIRE_ALLOW_UNSECURED_TRANSPORT=true \
    ASPNETCORE_URLS="http://127.0.0.1:$DASHBOARD_PORT" \
    ASPIRE_DASHBOARD_OTLP_ENDPOINT_URL="http://127.0.0.1:$OTLP_PORT" \
    ASPIRE_RESOURCE_SERVICE_ENDPOINT_URL="http://127.0.0.1:$RESOURCE_SERVICE_PORT" \
    "Parameters__cache-key=$AC_KEY" \
    "Parameters__router-key=$(random_key)" \
    "Parameters__cache-cluster-secret=$(random_key)" \
    "Parameters__catalog-cache-key=$(random_key)" \
    "Parameters__console-cache-key=$(random_key)" \
    "${log_env[@]}" \
    dotnet run -c Release --no-build --project AspireCache.AppHost --no-launch-profile -- \
    "--AspireCache:RouterPort=$ROUTER_PORT" \
    "--AspireCache:NodePorts:0=${NODE_PORTS[0]}" \
    "--AspireCache:NodePorts:1=${NODE_PORTS[1]}" \
    "--AspireCache:NodePorts:2=${NODE_PORTS[2]}" \
    "--AspireCache:DataRoot=$AC_DATA_ROOT" \
    ${APPHOST_EXTRA_ARGS:-}
) >"$BENCH_TMP/apphost.log" 2>&1 </dev/null &
APPHOST_PID=$!

AC_ROUTER_URL="http://127.0.0.1:$ROUTER_PORT"
for i in 1 2 3; do AC_NODE_PORT[$i]=${NODE_PORTS[$((i - 1))]}; done
AC_NODES="$(ac_node_url 1),$(ac_node_url 2),$(ac_node_url 3)"
started=$(date +%s)
ac_wait_http "$AC_ROUTER_URL/health" "$START_TIMEOUT" || { tail -30 "$BENCH_TMP/apphost.log" >&2; exit 1; }
leader=""
until [[ -n "$leader" ]]; do
  leader=$(curl -s --max-time 1 -H "Authorization: Bearer $AC_KEY" "$AC_ROUTER_URL/router/topology" 2>/dev/null | jq -r '.leaderId // empty' 2>/dev/null || true)
  if [[ -z "$leader" ]]; then
    (($(date +%s) - started < START_TIMEOUT)) || { log "no leader in /router/topology after ${START_TIMEOUT} s"; exit 1; }
    sleep 0.5
  fi
done
ac_wait_leader 60
startup_seconds=$(($(date +%s) - started))
log "AppHost up in $startup_seconds s: leader $leader (router /router/topology with the admin key)"

# The processes behind it: ac_check_alive (after every run) watches the nodes and the router.
# (polled for up to 10 s: once, 2 s after the leader was known, a node's process was not found yet)
for i in 1 2 3; do
  for ((try = 0; try < 20; try++)); do
    AC_NODE_PID[$i]=$(apphost_pid_of AspireCache.Node "Cluster__NodeId=node$i")
    [[ -n "${AC_NODE_PID[$i]}" ]] && break
    sleep 0.5
  done
  [[ -n "${AC_NODE_PID[$i]}" ]] || { log "could not find node$i's process"; exit 1; }
done
AC_ROUTER_PID=$(apphost_pid_of AspireCache.Router)
DASHBOARD_PID=$(apphost_pid_of Aspire.Dashboard)
log "pids: nodes ${AC_NODE_PID[1]} ${AC_NODE_PID[2]} ${AC_NODE_PID[3]}, router $AC_ROUTER_PID, dashboard ${DASHBOARD_PID:-?}; $(apphost_pids | wc -l) processes in all"

# What the AppHost gave them (no secrets: names only for keys and OTLP headers).
aspire_version=$(sed -n 's/.*Aspire AppHost version: \([^+ ]*\).*/\1/p' "$BENCH_TMP/apphost.log" | head -1)
env_lines=()
for i in 1 2 3; do
  p=${AC_NODE_PID[$i]}
  env_lines+=("node$i (pid $p): OTEL_EXPORTER_OTLP_ENDPOINT=$(env_of "$p" OTEL_EXPORTER_OTLP_ENDPOINT) ($(env_of "$p" OTEL_EXPORTER_OTLP_PROTOCOL)), OTEL_TRACES_SAMPLER=$(env_of "$p" OTEL_TRACES_SAMPLER), OTEL_BSP_SCHEDULE_DELAY=$(env_of "$p" OTEL_BSP_SCHEDULE_DELAY), OTEL_METRIC_EXPORT_INTERVAL=$(env_of "$p" OTEL_METRIC_EXPORT_INTERVAL), Auth__Enabled=$(env_of "$p" Auth__Enabled), Cluster__Secret $([[ -n $(env_of "$p" Cluster__Secret) ]] && echo set || echo unset), ASPNETCORE_URLS=$(env_of "$p" ASPNETCORE_URLS)")
done
env_lines+=("router (pid $AC_ROUTER_PID): OTEL_EXPORTER_OTLP_ENDPOINT=$(env_of "$AC_ROUTER_PID" OTEL_EXPORTER_OTLP_ENDPOINT), OTEL_TRACES_SAMPLER=$(env_of "$AC_ROUTER_PID" OTEL_TRACES_SAMPLER), Router__Credential $([[ -n $(env_of "$AC_ROUTER_PID" Router__Credential) ]] && echo set || echo unset), ASPNETCORE_URLS=$(env_of "$AC_ROUTER_PID" ASPNETCORE_URLS)")
router_listener=$(ss -Htlnp "sport = :$ROUTER_PORT" 2>/dev/null | grep -o 'users:(("[^"]*"' | head -1 | sed 's/users:(("//; s/"$//' || true)
printf '%s\n' "${env_lines[@]}" >"$RESULTS_DIR/environment.txt"
log "environment of the services: $RESULTS_DIR/environment.txt"
printf '  %s\n' "${env_lines[@]}" >&2

# The admin key reaches the tool through its environment (not its command line); the tool sends it to
# AspireCache only, never to etcd. ac_status (the terms) sends AC_KEY too.
export ASPIRECACHE_BENCH_KEY=$AC_KEY

compare_warm_up
compare_workloads

notes=(
  "AspireCache: \`dotnet run -c Release --no-build --project AspireCache.AppHost --no-launch-profile\` (Aspire ${aspire_version:-?}) with the \`http\` profile's environment (Development, ASPIRE_ALLOW_UNSECURED_TRANSPORT=true) and the bench's ports: DCP, the dashboard (http://127.0.0.1:$DASHBOARD_PORT), OTLP to it at http://127.0.0.1:$OTLP_PORT with traces on, client auth (the tool sends the admin key as a bearer token) and node-to-node auth on, catalog and console services running; router port $ROUTER_PORT served by ${router_listener:-?} (the router's and the nodes' ports are not proxied by DCP), nodes ${NODE_PORTS[*]}; service logs: $([[ $QUIET_LOGS == 1 ]] && echo 'warnings only (QUIET_LOGS=1)' || echo 'their appsettings (Information, ASP.NET Core/HttpClient/YARP warnings only)'); AppHost up (router healthy, leader known) $startup_seconds s after \`dotnet run\`."
  "Scheduling: the AppHost's resources run in DCP's own session; etcd $([[ $ETCD_OWN_SESSION == 1 ]] && echo 'in a session of its own (`ETCD_OWN_SESSION=1`)' || echo 'in the script'"'"'s session, beside wrk (`ETCD_OWN_SESSION=0`)'); wrk in the script's. Linux schedules each session as one group ($( [[ $(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null) == 1 ]] && echo 'autogroup on here' || echo 'autogroup off here'))."
  "Environment each service got from the AppHost:"$'\n'"$(printf -- '- %s\n' "${env_lines[@]}")"
)
compare_summary "AspireCache (AppHost: dashboard, OTLP traces, auth) vs etcd $(etcd --version | awk 'NR == 1 {print $3}') — $(nproc) cores, ${CONNECTIONS} connections, ${VALUE_SIZE}-byte values, ${KEYS} keys, ${DURATION} per run (+${WARMUP} warmup)" "${notes[@]}"
log "results: $RESULTS_DIR"
