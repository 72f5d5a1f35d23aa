#!/usr/bin/env python3
"""Prints the side-by-side summary of bench/compare/run.sh: medians over the runs of each target's
holdfast-bench JSON results (DIR/holdfast-K.json, DIR/redis-K.json) and the ratio per operation."""
import json
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def load_cpu(path):
    """Server CPU seconds of one run (ticks and ticks per second, written by run.sh)."""
    try:
        with open(path) as f:
            ticks, hz = f.read().split()
            return int(ticks) / int(hz)
    except (OSError, ValueError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def main():
    out, runs = sys.argv[1], int(sys.argv[2])
    res = {t: [load(f"{out}/{t}-{k}.json") for k in range(1, runs + 1)] for t in ("holdfast", "redis")}
    ok_runs = {t: [r for r in res[t] if r] for t in res}
    if not ok_runs["holdfast"] and not ok_runs["redis"]:
        print("compare: no target produced results; see the logs above", file=sys.stderr)
        sys.exit(1)
    first = (ok_runs["holdfast"] or ok_runs["redis"])[0]
    print(f"workload {first['workload']}, {first['connections']} connections x pipeline "
          f"{first['pipeline']}, {first['duration_s']:.0f} s, medians of {runs} run(s)")
    print(f"{'op':8} {'metric':10} {'holdfast':>14} {'redis':>14} {'ratio':>8}")
    for op in ("hold", "confirm", "release", "avail", "info", "ping"):
        rows = []
        for metric, digits in (("ok_per_s", 0), ("p50_us", 1), ("p99_us", 1), ("p999_us", 1)):
            h = median([r["ops"][op][metric] for r in ok_runs["holdfast"] if op in r["ops"]])
            d = median([r["ops"][op][metric] for r in ok_runs["redis"] if op in r["ops"]])
            rows.append((metric, h, d, digits))
        if not any(r[1] or r[2] for r in rows[:1]):
            continue
        for metric, h, d, digits in rows:
            ratio = f"{h / d:.2f}x" if h and d else "-"
            print(f"{op:8} {metric:10} {fmt(h, digits):>14} {fmt(d, digits):>14} {ratio:>8}")
    # Server efficiency: all answered requests (ok + refused) per second of server CPU.
    eff = {}
    for t in ("holdfast", "redis"):
        vals = []
        for k in range(1, runs + 1):
            r, cpu = res[t][k - 1], load_cpu(f"{out}/{t}-{k}.cpu")
            if r and cpu:
                answered = sum(o["ok"] + o["refused"] for o in r["ops"].values())
                vals.append(answered / cpu)
        eff[t] = median(vals)
    if eff["holdfast"] or eff["redis"]:
        h, d = eff["holdfast"], eff["redis"]
        ratio = f"{h / d:.2f}x" if h and d else "-"
        print(f"{'server':8} {'ops/cpu_s':10} {fmt(h):>14} {fmt(d):>14} {ratio:>8}")
    # CPU per answered op as the bench reports it (--server-pid): the load generator's own, and
    # the server's over the same window.
    for key in ("bench_us_per_op", "server_us_per_op"):
        h = median([r["cpu"][key] for r in ok_runs["holdfast"] if r.get("cpu") and r["cpu"][key]])
        d = median([r["cpu"][key] for r in ok_runs["redis"] if r.get("cpu") and r["cpu"][key]])
        if h or d:
            ratio = f"{h / d:.2f}x" if h and d else "-"
            print(f"{'cpu':8} {key[:-7] + '/op':10} {fmt(h, 3):>14} {fmt(d, 3):>14} {ratio:>8}")
    if first["rate"] > 0:
        for t in ("holdfast", "redis"):
            for r in ok_runs[t]:
                o = r["open_loop"]
                print(f"open loop {t}: rate {o['rate']:.0f}/s, sends late {o['sends_late']}, "
                      f"max lag {o['send_lag_ms_max']:.1f} ms, missed {o['sends_missed']}, "
                      f"kept up: {o['kept_up']}")
    if first["workload"] == "onsale":
        for key in ("t50_ms", "t90_ms", "t99_ms", "t100_ms"):
            h = median([r["sellout"][key] for r in ok_runs["holdfast"]])
            d = median([r["sellout"][key] for r in ok_runs["redis"]])
            ratio = f"{d / h:.2f}x faster" if h and d else "-"
            print(f"{'sellout':8} {key:10} {fmt(h, 1):>14} {fmt(d, 1):>14} {ratio:>8}")
        checks = [r["check"]["ok"] for t in ok_runs for r in ok_runs[t] if r["check"]["ran"]]
        print("checks: " + ("all PASS" if all(c is True for c in checks) else f"FAIL in some runs: {checks}"))


if __name__ == "__main__":
    main()
