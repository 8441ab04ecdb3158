#!/usr/bin/env bash
# What making one replication round's log entry durable costs on this disk, with no cluster: DotNext 6.12's
# WriteAheadLog way (memory-mapped pages: msync of the data and metadata pages, then a checkpoint written with
# O_SYNC, FileOptions.WriteThrough), the same on page files written beforehand (dotnext-pw), its PrivateMemory
# strategy, and etcd's (one pwrite, one fdatasync). Per variant, PASSES times in rotated order: wall time per
# round (p50, p99, mean) and the tool's CPU per round. Files go where the bench cluster keeps its data
# (TMPDIR, default /tmp: the same disk as bench/start-cluster.sh's WALs). bench/README.md, session 29.
#
#   bench/wal-sync.sh                                  # ROUNDS=2000 ENTRY_BYTES=9200 (~30 writes of 256 B) PASSES=3
#   ENTRY_BYTES=300 ROUNDS=5000 SKIP_BUILD=1 bench/wal-sync.sh   # one small write per round
set -euo pipefail
# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

ROUNDS=${ROUNDS:-2000}
ENTRY_BYTES=${ENTRY_BYTES:-9200}
PASSES=${PASSES:-3}

bench_build AspireCache.Bench
bench_tmp_init
log "load average at start: $(cut -d' ' -f1-3 /proc/loadavg); files in $BENCH_TMP ($(df -T "$BENCH_TMP" | awk 'NR == 2 {print $2 " on " $1}'))"
dotnet "$AC_BENCH_DLL" --mode wal-sync --data-dir "$BENCH_TMP" --rounds "$ROUNDS" --entry-bytes "$ENTRY_BYTES" --passes "$PASSES"
