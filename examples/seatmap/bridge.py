"""A live seat map for one holdfast event: an HTTP + WebSocket bridge over the Python package.

    python3 examples/seatmap/bridge.py --holdfast 127.0.0.1:7070 --event 42 --listen 127.0.0.1:8080

serves index.html at / and a WebSocket at /ws. The bridge keeps one WATCH of the event
(holdfast.AsyncWatch) and fans its changes out to every page: each gets a snapshot of every seat
(SEAT_INFO, 1024 seats a request), then every change as it happens; after a GAP (the watch fell
behind) or when a page's queue overflows, that page gets a fresh snapshot. Messages, JSON:
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
from typing import Any, Dict, List, Optional, Set

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


QUEUE_MAX = 1024  # changes queued for one browser; past it the browser gets a fresh snapshot


class Browser:
    """One page: its queue of messages and the task that writes them to its WebSocket."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.queue: "asyncio.Queue[Optional[Dict[str, Any]]]" = asyncio.Queue(QUEUE_MAX)
        self.resync = True  # the writer sends a snapshot before anything else

    def offer(self, msg: Dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(msg)
        except asyncio.QueueFull:
            self.resync = True  # behind: drop its queue, it gets a fresh snapshot
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(None)


class Feed:
    """One WATCH of the event for every browser: the bridge, not holdfast, fans the changes out,
    so a thousand pages cost the shard one watcher."""

    def __init__(self, c: holdfast.AsyncClient, event_id: int) -> None:
        self.c = c
        self.event_id = event_id
        self.browsers: Set[Browser] = set()
        self.seq = 0
        self.ready = asyncio.Event()

    async def run(self) -> None:
        w = await self.c.watch(self.event_id)
        self.seq = w.seq
        self.ready.set()
        try:
            async for ch in w:
                self.seq = ch.seq
                if ch.kind == "gap":
                    for b in self.browsers:
                        b.resync = True
                        b.offer({"type": "gap"})
                    continue
                state = (
                    "held"
                    if ch.kind in ("held", "extended")
                    else ("booked" if ch.kind == "booked" else "free")
                )
                msg = {
                    "type": "change",
                    "seq": ch.seq,
                    "kind": ch.kind,
                    "state": state,
                    "seats": list(ch.seats),
                }
                for b in self.browsers:
                    b.offer(msg)
        finally:
            await w.close()

    async def serve(self, b: Browser) -> None:
        """Writes b's messages: a snapshot first (and again after a gap or an overflow), then the
        changes that came after it began (re-applying one the snapshot shows is harmless)."""
        await self.ready.wait()
        self.browsers.add(b)
        try:
            while True:
                if b.resync:
                    b.resync = False
                    while not b.queue.empty():
                        b.queue.get_nowait()
                    await b.ws.send_str(json.dumps(await snapshot(self.c, self.event_id, self.seq)))
                msg = await b.queue.get()
                if msg is not None and msg.get("type") == "change":
                    await b.ws.send_str(json.dumps(msg))
        finally:
            self.browsers.discard(b)


def make_app(feed: Feed) -> web.Application:
    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(HERE / "index.html")

    async def socket(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=30.0)
        await ws.prepare(request)
        task = asyncio.ensure_future(feed.serve(Browser(ws)))
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
        feed = Feed(c, args.event)
        feed_task = asyncio.ensure_future(feed.run())
        await asyncio.wait_for(feed.ready.wait(), 30.0)
        runner = web.AppRunner(make_app(feed))
        await runner.setup()
        site = web.TCPSite(runner, host, int(port))
        await site.start()
        bound = runner.addresses[0]
        print("listening on http://%s:%d/" % (bound[0], bound[1]), flush=True)
        try:
            await feed_task  # runs until the watch ends (the server went away)
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
