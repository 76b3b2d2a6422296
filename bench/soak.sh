#!/usr/bin/env bash
# bench/soak.sh: the soak benchmark.  One `twotime stream` process (the
# real program, exactly-once) against a real local broker:
#
#   1. its maximum throughput: TT_SOAK_MAX_EVENTS events (default 150000)
#      produced ahead, the rate at which it works through them
#      (twotime_stream_events_total from its metrics endpoint);
#   2. then a steady TT_SOAK_FRACTION (default 0.8) of that rate
#      (`twotime gen | twotime produce --rate R`) for TT_SOAK_MINUTES
#      (default 30), sampling every TT_SOAK_INTERVAL seconds (default 60):
#      the process's RSS (/proc/PID/status VmRSS), events/s, consumer lag,
#      and the event-to-output latency p50/p99 of that interval (from the
#      difference of two scrapes of the latency histogram);
#   3. writes soak.csv (one row per sample), soak.json (settings, samples,
#      summary) and, with gnuplot, soak-rss.svg and soak-latency.svg into
#      the run directory, and prints the summary.
#
# The check: the least-squares slope of RSS over the last 10 minutes must
# stay under TT_SOAK_MAX_SLOPE_MB_MIN MB per minute (default 1.0), and
# every interval must have processed events.  Exit status 1 otherwise.  A
# run shorter than 20 minutes is mostly warm-up: its slope (over its last
# half) is reported but only judged with TT_SOAK_STRICT=1.
#
#   bench/soak.sh [BUILD_DIR]      (default build/release; scripts/bench soak)
#
# Broker: TT_SOAK_BROKERS, or one started here on TT_SOAK_PORT (default
# 19696, controller TT_SOAK_CTRL_PORT 19699; metrics on
# TT_SOAK_METRICS_PORT, default 19698).  TT_SOAK_RATE=N
# skips step 1 and soaks at N events/s.  The model is trained here from a
# generated log (TT_SOAK_USERS users, default 5000; d = 64, `twotime
# train` defaults).  Everything shares the machine: on a small box the
# broker's and the producer's CPU are part of the cost.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build/release}
minutes=${TT_SOAK_MINUTES:-30}
interval=${TT_SOAK_INTERVAL:-60}
fraction=${TT_SOAK_FRACTION:-0.8}
max_events=${TT_SOAK_MAX_EVENTS:-150000}
users=${TT_SOAK_USERS:-5000}
max_slope=${TT_SOAK_MAX_SLOPE_MB_MIN:-1.0}
mport=${TT_SOAK_METRICS_PORT:-19698}
started=0

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" --target twotime -j2 >/dev/null
tt=$build/twotime
export OPENBLAS_NUM_THREADS=1

if [ -n "${TT_SOAK_BROKERS:-}" ]; then
    brokers=$TT_SOAK_BROKERS
else
    port=${TT_SOAK_PORT:-19696}
    brokers=127.0.0.1:$port
    export TT_KAFKA_PORT=$port TT_KAFKA_CTRL_PORT=${TT_SOAK_CTRL_PORT:-19699}
    if ! "$top/scripts/kafka" status >/dev/null 2>&1; then
        "$top/scripts/kafka" start
        started=1
    fi
fi

run=$build/soak-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$run"
# Built-in defaults plus the --sets below, not whatever conf/twotime.conf
# the caller's directory holds (TT_SOAK_CONFIG=FILE to use one).
cd "$run"
cfg=()
[ -n "${TT_SOAK_CONFIG:-}" ] && cfg=(-c "$TT_SOAK_CONFIG")
tag=soak-$$-$(date +%s)
sets=("${cfg[@]}" --set "kafka.brokers=$brokers" --set "kafka.input_topic=$tag-in"
      --set "kafka.output_topic=$tag-out" --set "kafka.changelog_topic=$tag-cl"
      --set "kafka.dead_letter_topic=$tag-dlq" --set "kafka.model_topic=$tag-models"
      --set "kafka.group_id=$tag-g" --set "state.path=$run/state"
      --set "metrics.port=$mport" --set "model.follow=false")
stream_pid=
prod_pid=
cleanup() {
    [ -n "$prod_pid" ] && kill "$prod_pid" 2>/dev/null || true
    if [ -n "$stream_pid" ]; then
        kill -TERM "$stream_pid" 2>/dev/null || true
        wait "$stream_pid" 2>/dev/null || true
    fi
    if [ "$started" = 1 ]; then
        "$top/scripts/kafka" stop >/dev/null || true
    fi
}
trap cleanup EXIT

metric() { # NAME: its value on the metrics page (0 when absent)
    python3 - "$mport" "$1" <<'PY'
import sys, urllib.request
try:
    page = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode()
except Exception:
    print(0); sys.exit()
for line in page.splitlines():
    if line.startswith(sys.argv[2] + " "):
        print(line.split()[1]); break
else:
    print(0)
PY
}

echo "soak: run directory $run"
"$tt" gen --out "$run/train.csv" --events 100000 --seed 1 --users "$users" -q
"$tt" train "${cfg[@]}" --input "$run/train.csv" --out "$run/model.bin" --threads 2 \
    >"$run/train.log" 2>&1
rm -f "$run/train.csv"

"$tt" stream --model "$run/model.bin" --instance soak "${sets[@]}" \
    2>"$run/stream.log" &
stream_pid=$!
for _ in $(seq 60); do
    grep -q ": restored in\|started:" "$run/stream.log" && break
    sleep 1
done

if [ -n "${TT_SOAK_RATE:-}" ]; then
    rate=$TT_SOAK_RATE
    max=
else
    echo "soak: measuring the maximum rate over $max_events events"
    "$tt" gen --out - --events "$max_events" --seed 2 --users "$users" -q |
        "$tt" produce --input - "${sets[@]}" --quiet
    t0=
    while :; do
        n=$(metric twotime_stream_events_total)
        now=$(date +%s.%N)
        if [ -z "$t0" ] && [ "${n%.*}" -gt 0 ]; then
            t0=$now
            n0=${n%.*}
        fi
        [ "${n%.*}" -ge "$max_events" ] && break
        kill -0 "$stream_pid" || { tail "$run/stream.log"; exit 1; }
        sleep 0.5
    done
    max=$(python3 -c "print(int(($max_events - $n0) / ($now - $t0)))")
    rate=$(python3 -c "print(int($max * $fraction))")
    echo "soak: maximum ~$max events/s; soaking at $rate events/s ($fraction)"
fi

total=$(python3 -c "print(int($rate * ($minutes * 60 + 120)))")
"$tt" gen --out - --events "$total" --seed 3 --users "$users" -q |
    "$tt" produce --input - "${sets[@]}" --rate "$rate" --quiet &
prod_pid=$!

# The sampler: every interval, RSS and a metrics scrape; at the end the
# CSV, the JSON, the SVGs and the verdict.
python3 - "$stream_pid" "$mport" "$interval" "$minutes" "$rate" "${max:-0}" \
    "$max_slope" "$run" <<'PY'
import json, os, subprocess, sys, time, urllib.request

pid, mport, interval, minutes, rate, mx, max_slope, run = sys.argv[1:9]
interval, minutes, rate = float(interval), float(minutes), int(rate)
max_slope = float(max_slope)

def scrape():
    page = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % mport, timeout=10).read().decode()
    buckets, vals, lag = [], {}, 0
    for line in page.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, v = line.rsplit(" ", 1)
        if name.startswith("twotime_stream_latency_seconds_bucket"):
            le = name.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), int(v)))
        elif name.startswith("twotime_stream_consumer_lag"):
            lag += int(v)
        else:
            vals[name] = float(v)
    return buckets, vals, lag

def rss_kb():
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0

def quantile(b0, b1, q):
    """q-quantile (ms) of the latencies between two cumulative histograms,
    linear inside a bucket, as tt_metrics_latency_quantile does."""
    d = [(le, c1 - c0) for (le, c0), (_, c1) in zip(b0, b1)]
    n = d[-1][1]
    if n <= 0:
        return None
    want, lo, prev = q * n, 0.0, 0
    for le, cum in d:
        if cum >= want:
            if le == float("inf"):
                return lo * 1000
            frac = (want - prev) / max(cum - prev, 1)
            return (lo + (le - lo) * frac) * 1000
        lo, prev = le, cum
    return lo * 1000

samples = []
b_prev, v_prev, _ = scrape()
t0 = time.monotonic()
samples.append({"t_s": 0.0, "rss_mb": rss_kb() / 1024, "events_per_s": None,
                "lag": None, "p50_ms": None, "p99_ms": None})
k = 1
while k * interval <= minutes * 60 + 1e-6:
    time.sleep(max(0.0, t0 + k * interval - time.monotonic()))
    try:
        os.kill(int(pid), 0)
    except OSError:
        print("soak: the stream died; see %s/stream.log" % run)
        sys.exit(1)
    b, v, lag = scrape()
    ev = v.get("twotime_stream_events_total", 0) - v_prev.get("twotime_stream_events_total", 0)
    s = {"t_s": round(time.monotonic() - t0, 1), "rss_mb": round(rss_kb() / 1024, 2),
         "events_per_s": round(ev / interval, 1), "lag": lag,
         "p50_ms": quantile(b_prev, b, 0.5), "p99_ms": quantile(b_prev, b, 0.99)}
    samples.append(s)
    print("soak: %6.0f s  rss %7.1f MB  %8.1f events/s  lag %6d  p50 %s ms  p99 %s ms" % (
        s["t_s"], s["rss_mb"], s["events_per_s"], lag,
        "%.1f" % s["p50_ms"] if s["p50_ms"] is not None else "-",
        "%.1f" % s["p99_ms"] if s["p99_ms"] is not None else "-"), flush=True)
    b_prev, v_prev = b, v
    k += 1

# RSS slope (MB/min) over the last 10 minutes, or the last half.
window = 600.0 if minutes >= 20 else minutes * 60 / 2
pts = [(s["t_s"] / 60, s["rss_mb"]) for s in samples if s["t_s"] >= samples[-1]["t_s"] - window - 1e-6]
if len(pts) >= 2:
    mx_ = sum(p[0] for p in pts) / len(pts)
    my_ = sum(p[1] for p in pts) / len(pts)
    den = sum((p[0] - mx_) ** 2 for p in pts)
    slope = sum((p[0] - mx_) * (p[1] - my_) for p in pts) / den if den else 0.0
else:
    slope = 0.0
idle = [s for s in samples[1:] if not s["events_per_s"]]
# A run shorter than 20 minutes is mostly warm-up (block cache, user cache,
# memtables filling to their bounds): its slope is reported, not judged,
# unless TT_SOAK_STRICT=1.
judged = minutes >= 20 or os.environ.get("TT_SOAK_STRICT") == "1"
ok = (slope <= max_slope or not judged) and not idle
summary = {"rate": rate, "max_rate": int(mx), "minutes": minutes, "interval_s": interval,
           "rss_first_mb": samples[0]["rss_mb"], "rss_last_mb": samples[-1]["rss_mb"],
           "rss_max_mb": max(s["rss_mb"] for s in samples),
           "rss_slope_mb_per_min": round(slope, 4), "slope_window_s": window,
           "max_slope_mb_per_min": max_slope, "slope_judged": judged,
           "intervals_without_events": len(idle), "ok": ok}
with open(os.path.join(run, "soak.json"), "w") as f:
    json.dump({"summary": summary, "samples": samples}, f, indent=1)
with open(os.path.join(run, "soak.csv"), "w") as f:
    f.write("t_s,rss_mb,events_per_s,lag,p50_ms,p99_ms\n")
    for s in samples:
        f.write(",".join("" if s[c] is None else str(s[c]) for c in
                         ("t_s", "rss_mb", "events_per_s", "lag", "p50_ms", "p99_ms")) + "\n")
gp = """set terminal svg size 720,420 font 'sans,11' background rgb 'white'
set datafile separator ','
set key top left
set grid
set xlabel 'minutes'
set output '%(run)s/soak-rss.svg'
set title 'twotime stream soak: resident memory at %(rate)d events/s'
set ylabel 'RSS (MB)'
set yrange [0:*]
plot '%(run)s/soak.csv' every ::1 using ($1/60):2 with linespoints title 'RSS'
set output '%(run)s/soak-latency.svg'
set title 'event-to-output latency per interval'
set ylabel 'ms'
set logscale y
set yrange [*:*]
plot '%(run)s/soak.csv' every ::2 using ($1/60):5 with linespoints title 'p50', \\
     '%(run)s/soak.csv' every ::2 using ($1/60):6 with linespoints title 'p99'
""" % {"run": run, "rate": rate}
try:
    subprocess.run(["gnuplot"], input=gp.encode(), check=True)
except Exception as e:
    print("soak: no figures (%s)" % e)
print("soak: %s" % json.dumps(summary))
verdict = ("OK" if judged else "OK (stream never stalled; RSS slope not judged: run < 20 min)") \
    if ok else "FAILED: RSS grows or the stream stalled"
print("soak: %s (files in %s)" % (verdict, run))
sys.exit(0 if ok else 1)
PY
