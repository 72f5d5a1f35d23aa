"""Python clients against libholdfast on one holdfastd, in one window, for docs/bench.md.

    python3 python/bench/compare.py [--holdfastd build-release/engine/holdfastd]
        [--bench build-release/bench/holdfast-bench] [--ctl build-test/tests/python/hf-server-ctl]
        [--rounds 3] [--duration 3] [--pipeline 64]

Starts one holdfastd (2 shards, durability none) through hf-server-ctl, then runs, round after
round so that every configuration sees the same machine: holdfast-bench --workload holds with one
connection at pipeline 1 and at P, and python/bench/py_bench.py with the blocking Client and with
AsyncClient at P and at 1. Prints, per configuration, the median over the rounds of holds/s, p50
latency, the client process's CPU time per second of run (1.0 = one core busy), the client's CPU
time per hold, and the server's CPU time per second of run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
sys.path.insert(0, str(REPO / "python"))

import hfutil  # noqa: E402

RUN_TIMEOUT_S = 120
ROUNDS_MAX = 9


def proc_cpu_s(pid: int) -> float:
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_c(bench: str, addr: str, pipeline: int, duration: float) -> Tuple[float, float, float]:
    cmd = [
        bench,
        "--host",
        addr,
        "--workload",
        "holds",
        "--connections",
        "1",
        "--threads",
        "1",
        "--pipeline",
        str(pipeline),
        "--duration",
        str(duration),
        "--json",
        "--no-progress",
    ]
    cpu0 = children_cpu_s()
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True
    ).stdout
    cpu = children_cpu_s() - cpu0
    r = json.loads(out)
    hold = r["ops"]["hold"]
    return float(hold["ok_per_s"]), float(hold["p50_us"]), cpu / float(r["duration_s"])


def run_py(client: str, addr: str, pipeline: int, duration: float) -> Tuple[float, float, float]:
    cmd = [
        sys.executable,
        str(HERE / "py_bench.py"),
        "--host",
        addr,
        "--client",
        client,
        "--pipeline",
        str(pipeline),
        "--duration",
        str(duration),
        "--json",
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True
    ).stdout
    r = json.loads(out)
    return float(r["ok_per_s"]), float(r["p50_us"]), float(r["cpu_share"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--holdfastd", default=str(REPO / "build-release" / "engine" / "holdfastd"))
    ap.add_argument("--bench", default=str(REPO / "build-release" / "bench" / "holdfast-bench"))
    ap.add_argument(
        "--ctl", default=str(REPO / "build-test" / "tests" / "python" / "hf-server-ctl")
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--pipeline", type=int, default=64)
    args = ap.parse_args()
    if not 1 <= args.rounds <= ROUNDS_MAX:
        ap.error("--rounds must be 1 .. %d" % ROUNDS_MAX)
    hfutil.HOLDFASTD, hfutil.SERVER_CTL = args.holdfastd, args.ctl
    server = hfutil.start_server(shards=2, durability="none")
    configs = [
        ("libholdfast, blocking (pipeline 1)", lambda a: run_c(args.bench, a, 1, args.duration)),
        ("Python Client (blocking)", lambda a: run_py("blocking", a, 1, args.duration)),
        (
            "libholdfast, pipeline %d" % args.pipeline,
            lambda a: run_c(args.bench, a, args.pipeline, args.duration),
        ),
        (
            "Python AsyncClient, %d in flight" % args.pipeline,
            lambda a: run_py("async", a, args.pipeline, args.duration),
        ),
        ("Python AsyncClient, 1 in flight", lambda a: run_py("async", a, 1, args.duration)),
    ]
    results: Dict[str, List[Tuple[float, float, float, float]]] = {name: [] for name, _ in configs}
    try:
        for rnd in range(args.rounds):
            for name, fn in configs:
                s0 = proc_cpu_s(server.pid)
                ops, p50, cpu = fn(server.addr(0))
                srv = (proc_cpu_s(server.pid) - s0) / args.duration
                results[name].append((ops, p50, cpu, srv))
                print(
                    "round %d  %-36s %9.0f holds/s  p50 %7.1f us  client CPU %.2f  server CPU %.2f"
                    % (rnd + 1, name, ops, p50, cpu, srv),
                    flush=True,
                )
    finally:
        hfutil.stop_server(server)
    print("\nmedians of %d rounds, %g s each:" % (args.rounds, args.duration))
    print("| client | holds/s | p50 µs | client CPU | client CPU µs per hold | server CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, _ in configs:
        rows = results[name]
        med = [statistics.median(r[i] for r in rows) for i in range(4)]
        per_hold = statistics.median(r[2] / r[0] * 1e6 for r in rows if r[0] > 0)
        print(
            "| %s | %s | %.0f | %.2f | %.1f | %.2f |"
            % (name, format(int(med[0]), ","), med[1], med[2], per_hold, med[3])
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
