#!/usr/bin/env bash
# bench/bench_retrain.sh: what one machine does with `twotime retrain`.
#
#   bench/bench_retrain.sh [EVENTS...]        default: 1000000 10000000
#
# For each size: a synthetic log (`twotime gen`, users = events / 50, items
# = events / 60, as bench_train), then `twotime retrain --input LOG` with
# the shipped defaults (d = 64, 2TS-Plus, train.threads = 2) publishing to a
# fresh model topic, timed phase by phase from its log, with its peak
# resident memory; then bench_retrain moves the resulting model through the
# model topic once more (publish, follower assembly, follower memory).
# For sizes up to TOPIC_MAX_EVENTS (default 1000000) the log is also
# produced to an input topic and retrained from there (the production path:
# reading the topic, per-partition cutoffs).
#
# Environment:
#   BROKERS           a running broker [127.0.0.1:19092] (scripts/kafka start)
#   BUILD             build directory with twotime and bench/bench_retrain
#                     [build/release]
#   WORK              scratch directory [/tmp/tt-bench-retrain]
#   TOPIC_MAX_EVENTS  largest size also run from a topic [1000000]
#   BENCH_KEEP        keep the csv logs and model files
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
brokers=${BROKERS:-127.0.0.1:19092}
build=${BUILD:-$top/build/release}
work=${WORK:-/tmp/tt-bench-retrain}
topic_max=${TOPIC_MAX_EVENTS:-1000000}
sizes=${*:-1000000 10000000}
tt=$build/twotime
bench=$build/bench/bench_retrain
[ -x "$tt" ] && [ -x "$bench" ] || {
    echo "bench_retrain: build twotime and bench_retrain in $build" >&2
    exit 1
}
mkdir -p "$work"
work=$(cd "$work" && pwd)
build=$(cd "$build" && pwd)
tt=$build/twotime
bench=$build/bench/bench_retrain
# the built-in defaults: twotime reads conf/twotime.conf of the current
# directory when there is one, possibly newer than the binary under test
cd "$work"
tag=$$-$(date +%s)

# Topics (bench-rt-*) are left on the broker: twotime has no command that
# deletes topics; a scratch broker is the intended target.
cleanup() {
    [ -n "${BENCH_KEEP:-}" ] || rm -f "$work"/*.csv "$work"/*.ttm
}
trap cleanup EXIT

# Seconds between the first log line matching $2 and the last matching $3.
span() {
    awk -v a="$2" -v b="$3" '
        function secs(ts,  t) { split(substr(ts, 12, 12), t, ":");
                                return t[1] * 3600 + t[2] * 60 + t[3] }
        $0 ~ a && !s { s = secs($1) }
        $0 ~ b { e = secs($1) }
        END { if (s && e) printf "%.1f", e - s; else printf "?" }' "$1"
}

report() { # log
    local log=$1
    grep -E "read [0-9]+ events" "$log" | sed 's/^.*retrain: /  /'
    grep -E "split:" "$log" | sed 's/^.*retrain: /  /'
    grep -E "stage 1: |stage 2: " "$log" | sed 's/^.*retrain: /  /'
    grep -E "gate on" "$log" | sed 's/^.*retrain: /  /'
    grep -E "published version" "$log" | sed 's/^.*retrain: /  /'
    echo "  whole run: $(span "$log" 'retrain: ' 'published version') s" \
         "(log timestamps)"
}

sets=(--set "kafka.brokers=$brokers" --set metrics.port=0)
for n in $sizes; do
    users=$((n / 50))
    items=$((n / 60))
    log=$work/log-$n.csv
    echo "== $n events, $users users, $items items"
    start=$(date +%s.%N)
    "$tt" gen -o "$log" -n "$n" -s 1 --users "$users" --items "$items" -q
    echo "  gen: $(echo "$(date +%s.%N) - $start" | bc) s," \
         "$(du -m "$log" | cut -f1) MiB of csv"

    models=bench-rt-models-$n-$tag
    "$tt" retrain --input "$log" --out "$work/model-$n.ttm" "${sets[@]}" \
        --set "kafka.model_topic=$models" 2>"$work/retrain-$n.log" |
        sed 's/^/  /'
    report "$work/retrain-$n.log"
    "$bench" "$brokers" "$work/model-$n.ttm" 4 | sed 's/^/  /'

    if [ "$n" -le "$topic_max" ]; then
        input=bench-rt-in-$n-$tag
        models=bench-rt-models-topic-$n-$tag
        start=$(date +%s.%N)
        "$tt" produce -i "$log" --create-partitions 4 "${sets[@]}" \
            --set "kafka.input_topic=$input" >/dev/null 2>&1
        echo "  from a topic: produced in $(echo "$(date +%s.%N) - $start" |
            bc) s"
        "$tt" retrain "${sets[@]}" --set "kafka.input_topic=$input" \
            --set "kafka.model_topic=$models" \
            2>"$work/retrain-topic-$n.log" | sed 's/^/  /'
        report "$work/retrain-topic-$n.log"
        grep -E "moved to the cutoff" "$work/retrain-topic-$n.log" |
            sed 's/^.*retrain: /  /' || true
    fi
done
