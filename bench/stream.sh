#!/usr/bin/env bash
# bench/stream.sh: the stream processor's figures against a real local broker,
# as one summary table.
#
#   bench/stream.sh [BUILD_DIR]
#
# Builds bench_stream in BUILD_DIR (default build-bench, Release), starts a
# broker on TT_BENCH_PORT (default 19392) unless TT_BENCH_BROKERS names one,
# and runs, for d = 64, each TT_BENCH_RUNS times (default 3), interleaved so
# that a change in the machine's load hits every row alike:
#   1. throughput, at-least-once and exactly-once, TT_BENCH_EVENTS events
#      produced ahead (default 1000000), users uniform and Zipf(1.0)
#   2. latency at a steady 10,000 events/s for TT_BENCH_SECONDS (default 20),
#      both modes, Zipf users
#   3. the stream thread's CPU per event without Kafka (bench_stream
#      --offline), hopping-window, sliding-window and no-window models
#   4. the ceiling in the same rounds: bench_stream --null (the stream's
#      Kafka clients and configuration, one 300-byte record per input, no
#      state, no model), throughput and latency, both modes; the stream's
#      throughput is also given as a ratio of it
# and prints the medians (min-max) over the runs, with the broker's CPU per
# event (from /proc/<broker pid>/stat: scripts/kafka's pid file, or
# TT_BENCH_BROKER_PID with TT_BENCH_BROKERS).  The model (TT_BENCH_MODEL)
# is by default what `twotime train` writes: a hopping-window model (H = K/2 = 25), t* = 100, K = 50
# (conf/twotime.conf), with a phi_u for every user (as when the heavy users
# were in the training data).  Everything (broker included) shares the machine: on a small box the
# broker's CPU is part of the cost.  Extra arguments for every run:
# TT_BENCH_ARGS.  Full outputs: $build/bench-stream-logs/.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build-bench}
events=${TT_BENCH_EVENTS:-1000000}
runs=${TT_BENCH_RUNS:-3}
seconds=${TT_BENCH_SECONDS:-20}
model=${TT_BENCH_MODEL:---hop 25 --tstar 100 --k 50 --phi-every 1}
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
bpid=${TT_BENCH_BROKER_PID:-}
if [ -z "$bpid" ] && [ -z "${TT_BENCH_BROKERS:-}" ]; then
    pidf=${TT_KAFKA_DIR:-$top/.cache/kafka-run/$port}/broker.pid
    [ -f "$pidf" ] && bpid=$(cat "$pidf")
fi
bargs=${bpid:+--broker-pid $bpid}
logs=$build/bench-stream-logs
results=$logs/results.txt
mkdir -p "$logs"
: >"$results"
cleanup() {
    if [ "$started" = 1 ]; then
        TT_KAFKA_PORT=$port "$top/scripts/kafka" stop || true
    fi
}
trap cleanup EXIT

# run NAME ARGS...: one bench_stream run; its "result:" line, prefixed with
# NAME, goes to $results, everything to $logs/NAME.N.log.
run() {
    local name=$1 log
    shift
    log=$logs/$name.$(grep -c "^$name " "$results" || true).log
    # shellcheck disable=SC2086
    OPENBLAS_NUM_THREADS=1 "$build/bench/bench_stream" --brokers "$brokers" \
        --dim 64 --state-dir "${TMPDIR:-/tmp}" $model $extra $bargs "$@" \
        >"$log" 2>&1 ||
        { echo "bench_stream $* failed, see $log" >&2; return 1; }
    grep '^result:' "$log" | sed "s/^result:/$name/" >>"$results"
    echo "  $name: $(grep '^result:' "$log" | cut -d' ' -f2-)" \
        "(load $(cut -d' ' -f1-3 /proc/loadavg))"
}

echo "bench/stream.sh: $runs runs of each, model: $model $extra"
for r in $(seq 1 "$runs"); do
    echo "round $r of $runs"
    for mode in alos eos; do
        run "$mode-uniform" --mode $mode --events "$events" --user-cache 100000
        run "$mode-zipf" --mode $mode --events "$events" --user-cache 100000 \
            --zipf 1.0
        run "$mode-latency" --mode $mode --rate 10000 --seconds "$seconds" \
            --user-cache 100000 --zipf 1.0
        run "null-$mode-zipf" --null --mode $mode --events "$events" --zipf 1.0
        run "null-$mode-latency" --null --mode $mode --rate 10000 \
            --seconds "$seconds" --zipf 1.0
    done
    run offline-hop --offline --events 200000 --zipf 1.0 \
        --user-cache 100000 --batch-max 5000
    run offline-sliding --offline --events 200000 --zipf 1.0 \
        --user-cache 100000 --batch-max 5000 --hop 0
    run offline-nowindow --offline --events 200000 --zipf 1.0 \
        --user-cache 100000 --batch-max 5000 --no-window
done

# ratio A B KEY: median over the rounds of A's KEY / B's KEY (same round)
ratio() {
    paste -d' ' <(grep "^$1 " "$results" | tr ' ' '\n' | sed -n "s/^$3=//p") \
        <(grep "^$2 " "$results" | tr ' ' '\n' | sed -n "s/^$3=//p") |
        awk '$2 > 0 { print $1 / $2 }' | sort -g |
        awk '{ v[NR] = $1 } END {
            if (NR == 0) { printf "-"; exit }
            printf "%.2f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        }'
}

# stat NAME KEY [FMT]: median (min-max) of field KEY over the rows of NAME
stat() {
    grep "^$1 " "$results" | tr ' ' '\n' | sed -n "s/^$2=//p" | sort -g |
        awk -v f="${3:-%.0f}" '{ v[NR] = $1 } END {
            if (NR == 0) { printf "-"; exit }
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf f, m
            if (NR > 1) printf " (" f "-" f ")", v[1], v[NR]
        }'
}

echo
echo "d = 64, $(nproc) cores shared with the broker; model: $model $extra"
echo "medians over $runs runs (min-max); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo
printf '| %-20s | %-8s | %-26s | %-28s | %-16s | %-18s |\n' mode users \
    "events/s end to end" "events/s first to last output" \
    "of null (steady)" "broker CPU us/ev"
printf '|%s|%s|%s|%s|%s|%s|\n' ---------------------- ---------- \
    ---------------------------- ------------------------------ \
    ------------------ --------------------
for mode in alos eos; do
    name=$([ $mode = eos ] && echo exactly-once || echo at-least-once)
    for dist in uniform zipf; do
        printf '| %-20s | %-8s | %-26s | %-28s | %-16s | %-18s |\n' \
            "$name" "$dist" "$(stat "$mode-$dist" events_per_s)" \
            "$(stat "$mode-$dist" steady_per_s)" \
            "$(ratio "$mode-$dist" "null-$mode-zipf" steady_per_s)" \
            "$(stat "$mode-$dist" broker_us %.2f)"
    done
    printf '| %-20s | %-8s | %-26s | %-28s | %-16s | %-18s |\n' \
        "null, $name" zipf "$(stat "null-$mode-zipf" events_per_s)" \
        "$(stat "null-$mode-zipf" steady_per_s)" 1 \
        "$(stat "null-$mode-zipf" broker_us %.2f)"
done
echo
printf '| %-15s | %-18s | %-18s | %-18s | %-18s |\n' \
    "mode (10k ev/s)" "p50 ms" "p99 ms" "p99.9 ms" "max ms"
printf '|%s|%s|%s|%s|%s|\n' ----------------- -------------------- \
    -------------------- -------------------- --------------------
for mode in alos eos null-alos null-eos; do
    printf '| %-15s | %-18s | %-18s | %-18s | %-18s |\n' \
        "$(case $mode in eos) echo exactly-once ;; alos) echo at-least-once ;;
            null-eos) echo "null, EOS" ;; *) echo "null, ALO" ;; esac)" \
        "$(stat "$mode-latency" p50)" "$(stat "$mode-latency" p99)" \
        "$(stat "$mode-latency" p999)" "$(stat "$mode-latency" max)"
done
echo
printf '| %-26s | %-24s | %-24s |\n' "stream thread, no Kafka" \
    "us/event (CPU)" "of which tt_proc"
printf '|%s|%s|%s|\n' ---------------------------- -------------------------- \
    --------------------------
for m in hop sliding nowindow; do
    printf '| %-26s | %-24s | %-24s |\n' \
        "$(case $m in hop) echo "hopping window, Zipf 1.0" ;;
            sliding) echo "sliding window, Zipf 1.0" ;;
            *) echo "no window, Zipf 1.0" ;; esac)" \
        "$(stat "offline-$m" us_per_event %.2f)" \
        "$(stat "offline-$m" process_us %.2f)"
done
