#!/usr/bin/env bash
# bench/stream.sh: the stream processor's figures against a real local broker.
#
#   bench/stream.sh [BUILD_DIR]
#
# Builds bench_stream in BUILD_DIR (default build-bench, Release), starts a
# broker on TT_BENCH_PORT (default 19392) unless TT_BENCH_BROKERS names one,
# and runs, for d = 64:
#   1. throughput, at-least-once, events produced ahead (uniform and zipf users)
#   2. throughput, exactly-once, the same
#   3. latency at a steady 10,000 events/s, exactly-once and at-least-once
# Everything (broker included) shares the machine: on a small box the broker's
# CPU is part of the cost.  Extra arguments for every run: TT_BENCH_ARGS.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build-bench}
events=${TT_BENCH_EVENTS:-1000000}
extra=${TT_BENCH_ARGS:-}
started=0

cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_stream -j2 >/dev/null

if [ -n "${TT_BENCH_BROKERS:-}" ]; then
    brokers=$TT_BENCH_BROKERS
else
    port=${TT_BENCH_PORT:-19392}
    brokers=127.0.0.1:$port
    if ! TT_KAFKA_PORT=$port "$top/scripts/kafka" status >/dev/null 2>&1; then
        TT_KAFKA_PORT=$port "$top/scripts/kafka" start
        started=1
    fi
fi
cleanup() {
    if [ "$started" = 1 ]; then
        TT_KAFKA_PORT=$port "$top/scripts/kafka" stop || true
    fi
}
trap cleanup EXIT

run() {
    echo "== $*"
    OPENBLAS_NUM_THREADS=1 "$build/bench/bench_stream" --brokers "$brokers" \
        --dim 64 --state-dir "${TMPDIR:-/tmp}" $extra "$@" 2>&1 |
        grep -vE '^%|info  stream: (started|assigned|partition|revoked|stopped)'
    echo "   (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
}

for mode in alos eos; do
    run --mode $mode --events "$events" --user-cache 100000
    run --mode $mode --events "$events" --user-cache 100000 --zipf 1.0
done
run --mode eos --rate 10000 --seconds 20 --user-cache 100000 --zipf 1.0
run --mode alos --rate 10000 --seconds 20 --user-cache 100000 --zipf 1.0
