#!/usr/bin/env bash
# bench/bench_retrain_warm.sh: cold against warm-started retraining.
#
#   bench/bench_retrain_warm.sh [EVENTS]        default: 1000000
#
# A synthetic log of EVENTS events (`twotime gen`, users = events / 50,
# items = events / 60, as bench_retrain.sh).  The previous model is trained
# on its first 90% (yesterday's log); then `twotime retrain --dry-run` on
# the whole log, cold (train.epochs1/2 with early stopping) and
# warm-started from the previous model with 1 + 1, 2 + 2 (the default) and
# 3 + 3 epochs, and once warm-started from the cold model of the same log.
# Prints per run the epochs, the stage times and the gate's MRR on the
# newest slice (the same interactions and candidates for every run).
#
# Environment:
#   BROKERS  a running broker [127.0.0.1:19092] (retrain looks for a model
#            in service on a fresh, empty model topic)
#   BUILD    build directory with twotime [build/release]
#   WORK     scratch directory [/tmp/tt-bench-warm]
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
brokers=${BROKERS:-127.0.0.1:19092}
build=${BUILD:-$top/build/release}
work=${WORK:-/tmp/tt-bench-warm}
n=${1:-1000000}
tt=$build/twotime
[ -x "$tt" ] || { echo "bench_retrain_warm: build twotime in $build" >&2; exit 1; }
mkdir -p "$work"
work=$(cd "$work" && pwd)
build=$(cd "$build" && pwd)
tt=$build/twotime
cd "$work" # the built-in defaults, not a conf/twotime.conf found here
trap 'rm -f "$work"/*.csv "$work"/*.ttm' EXIT

"$tt" gen -o "$work/log.csv" -n "$n" -s 1 --users $((n / 50)) \
    --items $((n / 60)) -q
head -n $((n * 9 / 10 + 1)) "$work/log.csv" >"$work/prefix.csv"

run() { # name input [args...]
    local name=$1 input=$2
    shift 2
    "$tt" retrain --input "$input" --dry-run --out "$work/$name.ttm" \
        --set "kafka.brokers=$brokers" --set metrics.port=0 \
        --set "kafka.model_topic=bench-warm-none-$$" "$@" \
        >/dev/null 2>"$work/$name.log"
    awk -v name="$name" '
        /retrain: stage 1: / { s1 = $6; e1 = $8 }
        /retrain: stage 2: / { s2 = $6; e2 = $8 }
        /gate on the newest/ { mrr = $12 }
        END { printf "%-12s %3d + %-3d epochs  stage 1 %7.2f s  stage 2 %7.2f s  MRR %s\n",
                     name, e1, e2, s1, s2, mrr }' "$work/$name.log"
}

echo "== $n events; the previous model trained on the first 90%"
run previous "$work/prefix.csv"
run cold "$work/log.csv"
for e in 1 2 3; do
    run "warm-$e+$e" "$work/log.csv" --warm-start "$work/previous.ttm" \
        --set retrain.warm_epochs1=$e --set retrain.warm_epochs2=$e
done
run same-log "$work/log.csv" --warm-start "$work/cold.ttm"
