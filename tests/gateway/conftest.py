"""Fixtures of holdfast-http's end-to-end tests: a real holdfastd (2 shards, through hf-server-ctl,
the client tests' harness, via tests/python/hfutil.py), holdfast-http on a free loopback port in
front of it, and helpers to talk HTTP to it (http.client, and raw sockets for malformed and
pipelined requests).

Every wait is bounded; every process is stopped by its pid; nothing listens anywhere but
127.0.0.1. holdfast-http must exit 0 on SIGTERM (under ASan that includes the leak check)."""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "python"))
sys.path.insert(0, os.environ.get("HF_PYTHON_SRC", str(REPO / "python")))

import pytest  # noqa: E402

import hfutil  # noqa: E402

HOLDFAST_HTTP = os.environ.get(
    "HF_HOLDFAST_HTTP", str(REPO / "build-test" / "gateway" / "holdfast-http")
)
GATEWAY_START_TIMEOUT_S = 30.0
GATEWAY_STOP_TIMEOUT_S = 15.0
HTTP_TIMEOUT_S = 10.0


def pytest_report_header(config: pytest.Config) -> str:
    seed = os.environ.get("HF_SEED")
    if seed is None:
        seed = str(random.SystemRandom().randrange(1 << 32))
        os.environ["HF_SEED"] = seed
    random.seed(int(seed))
    return "holdfast-http tests: seed %s (replay with HF_SEED=%s)" % (seed, seed)


@dataclass
class Gateway:
    proc: subprocess.Popen  # type: ignore[type-arg]
    port: int

    def conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT_S)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Optional[Dict[str, str]] = None,
        conn: Optional[http.client.HTTPConnection] = None,
    ) -> Tuple[int, Dict[str, Any], http.client.HTTPResponse]:
        """One request; returns (HTTP status, the JSON body, the response)."""
        c = conn if conn is not None else self.conn()
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        c.request(method, path, body=data, headers=headers or {})
        r = c.getresponse()
        raw = r.read()
        if conn is None:
            c.close()
        assert r.getheader("Content-Type") == "application/json", raw
        return r.status, json.loads(raw), r

    def raw(self, data: bytes, want_close: bool = True) -> bytes:
        """Sends bytes on a fresh socket and reads until the gateway closes it (or, with
        want_close False, until the socket times out)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=HTTP_TIMEOUT_S)
        try:
            s.sendall(data)
            out = b""
            # Bounded by the socket timeout and by the gateway closing.
            while True:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    assert not want_close, "the gateway did not close: %r" % out[:200]
                    return out
                if not chunk:
                    return out
                out += chunk
        finally:
            s.close()


def start_gateway(holdfast_addr: str, *extra: str) -> Gateway:
    if not os.access(HOLDFAST_HTTP, os.X_OK):
        raise FileNotFoundError("%s is not built (or set HF_HOLDFAST_HTTP)" % HOLDFAST_HTTP)
    proc = subprocess.Popen(
        [HOLDFAST_HTTP, "--listen", "127.0.0.1:0", "--holdfast", holdfast_addr] + list(extra),
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        line = hfutil._read_line(proc.stdout.fileno(), GATEWAY_START_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        proc.wait(GATEWAY_STOP_TIMEOUT_S)
        raise
    parts = line.split()
    if len(parts) < 4 or parts[1] != "listening":
        rc = proc.wait(GATEWAY_STOP_TIMEOUT_S)
        raise RuntimeError("holdfast-http did not start (exit %s, said %r)" % (rc, line))
    return Gateway(proc, int(parts[3].rsplit(":", 1)[1]))


def stop_gateway(g: Gateway) -> int:
    """SIGTERM by pid, bounded wait; returns the exit status (SIGKILL past the bound)."""
    g.proc.send_signal(signal.SIGTERM)
    try:
        return g.proc.wait(GATEWAY_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        g.proc.kill()
        g.proc.wait(GATEWAY_STOP_TIMEOUT_S)
        raise AssertionError("holdfast-http did not stop within %g s" % GATEWAY_STOP_TIMEOUT_S)


@pytest.fixture(scope="session")
def server() -> Iterator[hfutil.Server]:
    s = hfutil.start_server(shards=2, durability="none")
    yield s
    hfutil.stop_server(s)


@pytest.fixture(scope="session")
def gw(server: hfutil.Server) -> Iterator[Gateway]:
    g = start_gateway(server.addr(0), "--threads", "2")
    yield g
    assert stop_gateway(g) == 0, "holdfast-http exit status on SIGTERM"


_next_event = [random.SystemRandom().randrange(1 << 40, 1 << 48)]


@pytest.fixture
def event(gw: Gateway) -> int:
    """A fresh event of 100 seats in rows of 10, created through POST /events."""
    _next_event[0] += 1
    e = _next_event[0]
    status, body, _ = gw.call("POST", "/events", {"event_id": e, "seats": 100, "row_width": 10})
    assert status == 201, body
    return e


def parse_responses(data: bytes) -> List[Tuple[int, bytes]]:
    """Splits bytes into (status, body) pairs of HTTP/1.1 responses with Content-Length."""
    out = []
    # Bounded by the data: every pass consumes one response.
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        out.append((status, rest[:length]))
        data = rest[length:]
    return out
