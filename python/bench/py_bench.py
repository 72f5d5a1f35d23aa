"""Hold throughput and latency of the Python clients, for docs/bench.md ("Python clients").

    python3 python/bench/py_bench.py --host 127.0.0.1:7070 --client blocking|async
                                     [--pipeline P] [--duration S] [--events N] [--json]

The "holds" workload of holdfast-bench: N events of 100,000 seats spread over the shards, each hold
takes one never-used seat of the next event (so every hold succeeds), none is confirmed or
released. blocking: one Client, one request at a time. async: one AsyncClient with P coroutines,
each with one hold in flight (P in flight in all). Reports ok holds/s, p50/p99 latency (µs, from
the call to its answer), and the process CPU time as a share of one core. Not part of the package.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from holdfast import AsyncClient, Client, HoldfastError  # noqa: E402

SEATS_PER_EVENT = 100000
DURATION_S_MAX = 60.0
PIPELINE_MAX = 4096
EVENTS_MAX = 4096


class Seats:
    """The next never-used seat of each event, round robin over the events."""

    def __init__(self, events: List[int]) -> None:
        self.events = events
        self.next: Dict[int, int] = {e: 0 for e in events}
        self.i = 0

    def take(self) -> tuple:
        # Bounded: events run out only after events * SEATS_PER_EVENT holds.
        for _ in range(len(self.events)):
            e = self.events[self.i % len(self.events)]
            self.i += 1
            s = self.next[e]
            if s < SEATS_PER_EVENT:
                self.next[e] = s + 1
                return e, s
        raise RuntimeError("every event is full: use more --events")


def percentile(sorted_us: List[float], q: float) -> float:
    if not sorted_us:
        return 0.0
    return sorted_us[min(len(sorted_us) - 1, int(q * len(sorted_us)))]


def report(
    args: argparse.Namespace, lat_ns: List[int], errors: int, wall_s: float, cpu_s: float
) -> Dict[str, object]:
    us = sorted(x / 1000.0 for x in lat_ns)
    return {
        "client": args.client,
        "pipeline": args.pipeline if args.client == "async" else 1,
        "ok": len(lat_ns),
        "errors": errors,
        "duration_s": round(wall_s, 3),
        "ok_per_s": round(len(lat_ns) / wall_s, 1),
        "p50_us": round(percentile(us, 0.50), 1),
        "p99_us": round(percentile(us, 0.99), 1),
        "cpu_share": round(cpu_s / wall_s, 3),
    }


def make_events(c: Client, n: int, seed: int) -> List[int]:
    rnd = random.Random(seed)
    base = rnd.randrange(1 << 40, 1 << 56)
    events = [base + i for i in range(n)]
    for e in events:
        c.create_event(e, seats=SEATS_PER_EVENT)
    return events


def run_blocking(args: argparse.Namespace, events: List[int]) -> Dict[str, object]:
    c = Client(args.host)
    seats = Seats(events)
    lat: List[int] = []
    errors = 0
    t_end = time.monotonic() + args.duration
    cpu0, wall0 = time.process_time(), time.monotonic()
    u = 0
    while time.monotonic() < t_end:
        e, s = seats.take()
        u += 1
        t0 = time.perf_counter_ns()
        try:
            c.hold(e, user=u, seats=[s], ttl=300)
        except HoldfastError:
            errors += 1
            continue
        lat.append(time.perf_counter_ns() - t0)
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    c.close()
    return report(args, lat, errors, wall, cpu)


async def run_async(args: argparse.Namespace, events: List[int]) -> Dict[str, object]:
    c = AsyncClient(args.host, pipeline_max=args.pipeline)
    await c.connect()
    seats = Seats(events)
    lat: List[int] = []
    errors = [0]
    t_end = time.monotonic() + args.duration

    async def user(u: int) -> None:
        while time.monotonic() < t_end:
            e, s = seats.take()
            t0 = time.perf_counter_ns()
            try:
                await c.hold(e, user=u, seats=[s], ttl=300)
            except HoldfastError:
                errors[0] += 1
                continue
            lat.append(time.perf_counter_ns() - t0)

    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(user(u) for u in range(args.pipeline)))
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    await c.close()
    return report(args, lat, errors[0], wall, cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1:7070")
    ap.add_argument("--client", choices=["blocking", "async"], required=True)
    ap.add_argument(
        "--pipeline", type=int, default=64, help="async: holds in flight (1..%d)" % PIPELINE_MAX
    )
    ap.add_argument(
        "--duration", type=float, default=3.0, help="seconds (at most %g)" % DURATION_S_MAX
    )
    ap.add_argument("--events", type=int, default=64, help="events (1..%d)" % EVENTS_MAX)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if (
        not 0 < args.duration <= DURATION_S_MAX
        or not 1 <= args.pipeline <= PIPELINE_MAX
        or not 1 <= args.events <= EVENTS_MAX
    ):
        ap.error("--duration, --pipeline or --events out of range")
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    with Client(args.host) as setup:
        events = make_events(setup, args.events, seed)
    if args.client == "blocking":
        r = run_blocking(args, events)
    else:
        r = asyncio.run(run_async(args, events))
    r["seed"] = seed
    if args.json:
        print(json.dumps(r))
    else:
        print(
            "%(client)s pipeline %(pipeline)s: %(ok_per_s).0f holds/s, p50 %(p50_us).0f us, "
            "p99 %(p99_us).0f us, "
            "CPU %(cpu_share).2f of a core, %(errors)d errors (seed %(seed)d)" % r
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
