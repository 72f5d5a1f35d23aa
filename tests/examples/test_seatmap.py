"""Goal: the seat map demo (examples/seatmap/) draws an event's seats live: a seat held through the
holdfast CLI changes class and colour on the page, then again when the hold is confirmed.

Method: a holdfastd on free loopback ports (tests/python/hfutil, the client tests' harness), the
bridge on port 0 (it prints the port it bound), and headless Chromium driven through the DevTools
protocol (aiohttp's WebSocket client): the page is loaded, and seat 5's element is read with
Runtime.evaluate until it shows the expected class and computed colour, within bounded waits.
Every process is stopped by pid. Exits 77 (skip) without chromium or python3-aiohttp."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "tests" / "python"))

try:
    import aiohttp
except ImportError:
    print("python3-aiohttp is not installed (scripts/install-deps.sh): skipped")
    sys.exit(77)

import hfutil  # noqa: E402

from holdfast import Client  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOLDFAST = os.environ.get("HF_HOLDFAST", str(REPO / "build-test" / "client" / "holdfast"))
START_TIMEOUT_S = 30.0
SEAT_TIMEOUT_S = 15.0
EVENT = 4242
COLOURS = {"free": "rgb(46, 160, 67)", "held": "rgb(230, 160, 20)", "booked": "rgb(200, 40, 40)"}


def read_line_matching(stream: Any, pattern: str, timeout_s: float, what: str) -> str:
    """The first group of the first line of stream matching pattern, within timeout_s."""
    deadline = time.monotonic() + timeout_s
    os.set_blocking(stream.fileno(), False)
    buf = b""
    while time.monotonic() < deadline:
        try:
            chunk = os.read(stream.fileno(), 4096)
        except BlockingIOError:
            chunk = None
        if chunk == b"":
            break
        if chunk:
            buf += chunk
            m = re.search(pattern.encode(), buf)
            if m:
                return m.group(1).decode()
        else:
            time.sleep(0.02)  # polling a pipe for a line, bounded by the deadline
    raise AssertionError(
        "%s did not say %r within %g s; it said %r" % (what, pattern, timeout_s, buf)
    )


class Cdp:
    """A minimal DevTools protocol client: one browser connection, one page session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0
        self.session: Optional[str] = None

    async def call(self, method: str, **params: Any) -> Dict[str, Any]:
        self.next_id += 1
        msg: Dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session is not None and not method.startswith("Target."):
            msg["sessionId"] = self.session
        await self.ws.send_str(json.dumps(msg))
        while True:
            reply = json.loads((await asyncio.wait_for(self.ws.receive(), 10.0)).data)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError("%s: %s" % (method, reply["error"]))
                return dict(reply.get("result", {}))

    async def seat(self, seat: int) -> str:
        expr = (
            "(() => { const d = document.getElementById('seat-%d'); return d ? d.className + '|'"
            " + getComputedStyle(d).backgroundColor : ''; })()" % seat
        )
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return str(r["result"].get("value", ""))

    async def wait_seat(self, seat: int, state: str, ga: bool = False) -> None:
        want = "seat %s%s|%s" % (state, " ga" if ga else "", COLOURS[state])
        deadline = time.monotonic() + SEAT_TIMEOUT_S
        got = ""
        while time.monotonic() < deadline:
            got = await self.seat(seat)
            if got == want:
                print("seat %d on the page: %s" % (seat, got))
                return
            await asyncio.sleep(0.05)  # polling the DOM, bounded by the deadline
        raise AssertionError(
            "seat %d shows %r, not %r, after %g s" % (seat, got, want, SEAT_TIMEOUT_S)
        )


def cli(server: hfutil.Server, *args: str) -> str:
    r = subprocess.run(
        [HOLDFAST, "--host", server.addr(0), *args], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


async def drive(browser_ws: str, page_url: str, server: hfutil.Server) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(browser_ws, max_msg_size=0) as ws:
            cdp = Cdp(ws)
            target = await cdp.call("Target.createTarget", url=page_url)
            attached = await cdp.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            cdp.session = attached["sessionId"]
            await cdp.wait_seat(5, "free")
            await cdp.wait_seat(3, "held")  # held before the page opened: from the snapshot
            cli(server, "hold", str(EVENT), "--user", "7", "--seats", "5", "--id", "55")
            await cdp.wait_seat(5, "held")
            cli(server, "confirm", str(EVENT), "55")
            await cdp.wait_seat(5, "booked")
            cli(server, "hold", str(EVENT), "--user", "8", "--section", "pit", "--quantity", "2")
            await cdp.wait_seat(60, "held", ga=True)  # the first place of the GA area


def stop(proc: "subprocess.Popen[bytes]") -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def main() -> int:
    if CHROMIUM is None:
        print("chromium is not installed (scripts/install-deps.sh): skipped")
        return 77
    server = hfutil.start_server(shards=2, durability="none")
    procs: List["subprocess.Popen[bytes]"] = []
    profile = tempfile.mkdtemp(prefix="hf-seatmap-")
    try:
        c = Client(server.addr(0))
        c.create_event(EVENT, seats=60, row_width=10, ga=[("pit", 20, 2)])
        c.hold(EVENT, user=1, seats=[3])
        c.close()
        bridge = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "examples" / "seatmap" / "bridge.py"),
                "--holdfast",
                server.addr(1),
                "--event",
                str(EVENT),
                "--listen",
                "127.0.0.1:0",
            ],
            stdout=subprocess.PIPE,
        )
        procs.append(bridge)
        url = read_line_matching(
            bridge.stdout, r"listening on (http://\S+)", START_TIMEOUT_S, "the bridge"
        )
        browser = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--user-data-dir=" + profile,
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        procs.append(browser)
        ws = read_line_matching(
            browser.stderr, r"DevTools listening on (ws://\S+)", START_TIMEOUT_S, "chromium"
        )
        asyncio.run(drive(ws, url, server))
        print("seat map: a seat held and booked through the CLI changed colour on the page")
        return 0
    finally:
        for p in reversed(procs):
            stop(p)
        hfutil.stop_server(server)
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
