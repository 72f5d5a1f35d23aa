"""A live seat map for one holdfast event: an HTTP + WebSocket bridge over the Python package.

    python3 examples/seatmap/bridge.py --holdfast 127.0.0.1:7070 --event 42 --listen 127.0.0.1:8080

serves index.html at / and a WebSocket at /ws. Each browser connection gets its own WATCH of the
event (holdfast.AsyncWatch), then a snapshot of every seat (SEAT_INFO, 1024 seats a request), then
every change as it happens; on a GAP (the watch fell behind) it gets a fresh snapshot. Messages,
JSON:
  {"type":"snapshot","event_id","seats","row_width","states":"fhb..." (one letter per seat:
   f free, h held, b booked),"sections":[{"name","kind","first","count","tier"},...],"seq"}
  {"type":"change","seq","kind","state":"free"|"held"|"booked","seats":[...]}
Events up to SNAPSHOT_SEATS_MAX seats: a demo, not a production bridge (that one would send ranges).
The listening address is printed once bound ("listening on http://HOST:PORT/"); port 0 picks one.
Needs python3-aiohttp (scripts/install-deps.sh) and the package in python/ on the path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "python"))

from aiohttp import WSMsgType, web  # noqa: E402

import holdfast  # noqa: E402

SNAPSHOT_SEATS_MAX = 65536
SEAT_INFO_CHUNK = 1024
STATE_LETTERS = {"free": "f", "held": "h", "booked": "b"}


async def snapshot(c: holdfast.AsyncClient, event_id: int, seq: int) -> Dict[str, Any]:
    info = await c.event_info(event_id)
    if info.seats > SNAPSHOT_SEATS_MAX:
        raise ValueError(
            "event %d has %d seats; the demo draws at most %d"
            % (event_id, info.seats, SNAPSHOT_SEATS_MAX)
        )
    states: List[str] = []
    for first in range(0, info.seats, SEAT_INFO_CHUNK):
        seats = range(first, min(first + SEAT_INFO_CHUNK, info.seats))
        states.extend(STATE_LETTERS[s.state] for s in await c.seat_info(event_id, list(seats)))
    es = await c.event_sections(event_id)
    return {
        "type": "snapshot",
        "event_id": event_id,
        "seats": info.seats,
        "row_width": info.row_width,
        "states": "".join(states),
        "sections": [
            {
                "name": s.section.name,
                "kind": s.section.kind,
                "first": s.section.first,
                "count": s.section.count,
                "tier": s.section.tier,
            }
            for s in es.sections
        ],
        "seq": seq,
    }


async def relay(ws: web.WebSocketResponse, c: holdfast.AsyncClient, event_id: int) -> None:
    w = await c.watch(event_id)
    try:
        await ws.send_str(json.dumps(await snapshot(c, event_id, w.seq)))
        async for ch in w:
            if ch.kind == "gap":
                await ws.send_str(json.dumps(await snapshot(c, event_id, ch.seq - 1)))
                continue
            state = {1: "held", 2: "booked"}.get(
                {"held": 1, "extended": 1, "booked": 2}.get(ch.kind, 0), "free"
            )
            await ws.send_str(
                json.dumps(
                    {
                        "type": "change",
                        "seq": ch.seq,
                        "kind": ch.kind,
                        "state": state,
                        "seats": list(ch.seats),
                    }
                )
            )
    finally:
        await w.close()


def make_app(c: holdfast.AsyncClient, event_id: int) -> web.Application:
    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(HERE / "index.html")

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        task = asyncio.ensure_future(relay(ws, c, event_id))
        try:
            async for msg in ws:  # the page sends nothing; this ends when it goes
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, ConnectionResetError, holdfast.HoldfastError):
                pass
        return ws

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/ws", socket)
    return app


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--holdfast", default="127.0.0.1:7070", help="any shard, HOST:PORT")
    ap.add_argument("--event", type=int, required=True, help="the event to draw")
    ap.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT (port 0: any)")
    ap.add_argument("--token", default=None, help="for a holdfastd with --auth-file")
    args = ap.parse_args()
    host, _, port = args.listen.rpartition(":")
    async with holdfast.AsyncClient(args.holdfast, token=args.token) as c:
        runner = web.AppRunner(make_app(c, args.event))
        await runner.setup()
        site = web.TCPSite(runner, host, int(port))
        await site.start()
        bound = runner.addresses[0]
        print("listening on http://%s:%d/" % (bound[0], bound[1]), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
