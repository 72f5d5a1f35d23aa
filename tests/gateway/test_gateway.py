"""Goal: every route of holdfast-http answers as README's "HTTP service" says, end to end against a
real holdfastd: the JSON bodies, the holdfast status -> HTTP status mapping (409, 404, 422, 400,
429 with Retry-After, 503 on lost contact), idempotent holds by Idempotency-Key (same body: the
first answer; another body: 422), malformed HTTP, every size limit (413, 414, 431), the connection
limit (503), keep-alive and pipelining (answers in request order).

Method: one holdfastd (2 shards) and one holdfast-http (2 threads) for the session (conftest.py);
extra short-lived pairs for the limits that need their own options (--max-conns, --user-rate, a
stopped holdfastd). Requests through http.client, and raw sockets where the bytes themselves are
the point. Event ids are random (seed printed in the header; HF_SEED replays)."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
import time

import hfutil
from conftest import (
    HTTP_TIMEOUT_S,
    HOLDFAST_HTTP,
    Gateway,
    parse_responses,
    start_gateway,
    stop_gateway,
)

MASK64 = (1 << 64) - 1


def fmix64(k: int) -> int:
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & MASK64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & MASK64
    k ^= k >> 33
    return k


def hold_id_of_key(event_id: int, key: bytes) -> int:
    """The formula README documents for Idempotency-Key."""
    h = 0xCBF29CE484222325
    for b in key:
        h = ((h ^ b) * 0x100000001B3) & MASK64
    i = fmix64(h ^ fmix64(event_id))
    return i or 1


# ---- the routes ----


def test_healthz(gw: Gateway) -> None:
    status, body, _ = gw.call("GET", "/healthz")
    assert status == 200 and body["status"] == "ok" and body["epoch"] >= 1


def test_create_event_idempotent_and_conflicting(gw: Gateway, event: int) -> None:
    args = {"event_id": event, "seats": 100, "row_width": 10}
    status, body, _ = gw.call("POST", "/events", args)
    assert status == 201 and body["event_id"] == event and body["seats"] == 100
    status, body, _ = gw.call("POST", "/events", dict(args, seats=200))
    assert status == 409 and body["status"] == "EVENT_EXISTS"
    status, body, _ = gw.call("POST", "/events", {"event_id": event})
    assert status == 400 and '"seats" is required' in body["message"]


def test_hold_confirm_release_flow(gw: Gateway, event: int) -> None:
    status, h, _ = gw.call("POST", "/events/%d/holds" % event, {"user": 7, "seats": [1, 2, 3]})
    assert status == 201 and h["seats"] == [1, 2, 3] and h["event_id"] == event
    assert h["deadline_ms"] > time.time() * 1000
    status, body, _ = gw.call("POST", "/events/%d/holds" % event, {"user": 8, "seats": [3]})
    assert status == 409 and body["status"] == "SEAT_TAKEN" and body["detail"] == 3
    status, b, _ = gw.call("POST", "/events/%d/holds" % event, {"user": 8, "best": 4, "ttl": 60})
    assert status == 201 and len(b["seats"]) == 4
    status, body, _ = gw.call("POST", "/events/%d/holds/%d/confirm" % (event, h["hold_id"]))
    assert status == 200 and body["booking_id"] == h["hold_id"] and body["seats"] == [1, 2, 3]
    # Confirming again is a replay: the same answer.
    status, again, _ = gw.call("POST", "/events/%d/holds/%d/confirm" % (event, h["hold_id"]))
    assert status == 200 and again == body
    status, body, _ = gw.call("DELETE", "/events/%d/holds/%d" % (event, h["hold_id"]))
    assert status == 409 and body["status"] == "HOLD_CONFIRMED"
    status, body, _ = gw.call("DELETE", "/events/%d/holds/%d" % (event, b["hold_id"]))
    assert status == 200 and body == {"event_id": event, "hold_id": b["hold_id"], "released": True}
    status, body, _ = gw.call("POST", "/events/%d/holds/%d/confirm" % (event, b["hold_id"]))
    assert status == 409 and body["status"] == "HOLD_RELEASED"
    status, body, _ = gw.call("POST", "/events/%d/holds/12345/confirm" % event)
    assert status == 404 and body["status"] == "NO_HOLD"


def test_available(gw: Gateway, event: int) -> None:
    gw.call("POST", "/events/%d/holds" % event, {"user": 7, "seats": [0, 5, 6]})
    status, body, _ = gw.call("GET", "/events/%d/seats/available" % event)
    assert status == 200 and body == {"event_id": event, "seats": 100, "free": 97}
    status, body, _ = gw.call("GET", "/events/%d/seats/available?first=0&count=10" % event)
    assert status == 200 and body["free_in_range"] == 7
    assert body["ranges"] == [[1, 4], [7, 9]] and body["first"] == 0 and body["count"] == 10
    status, body, _ = gw.call("GET", "/events/%d/seats/available?count=1025" % event)
    assert status == 400 and "count" in body["message"]
    status, body, _ = gw.call("GET", "/events/%d/seats/available?first=5" % event)
    assert status == 400 and "needs count" in body["message"]
    status, body, _ = gw.call("GET", "/events/%d/seats/available?colour=red" % event)
    assert status == 400 and "unknown parameter" in body["message"]
    status, body, _ = gw.call("GET", "/events/%d/seats/available?first=99&count=5" % event)
    assert status == 400 and body["status"] == "SEAT_RANGE"
    status, body, _ = gw.call("GET", "/events/%d/seats/available" % (event + 10**9))
    assert status == 404 and body["status"] == "NO_EVENT"


def test_error_mapping_of_holds(gw: Gateway, event: int) -> None:
    path = "/events/%d/holds" % event
    cases = [
        ({"user": 7, "seats": [100]}, 400, "SEAT_RANGE"),
        ({"user": 7, "seats": [4, 4]}, 400, "DUPLICATE_SEAT"),
        ({"user": 7, "best": 11}, 400, "INVALID"),
        ({"user": 7, "seats": list(range(65))}, 400, "BAD_REQUEST"),
        ({"user": 7, "seats": [1], "best": 2}, 400, "BAD_REQUEST"),
        ({"user": 7}, 400, "BAD_REQUEST"),
        ({"seats": [1]}, 400, "BAD_REQUEST"),
        ({"user": 0, "seats": [1]}, 400, "BAD_REQUEST"),
        ({"user": 7, "seats": [1], "ttl": 0}, 400, "BAD_REQUEST"),
        ({"user": 7, "seats": [1], "tll": 5}, 400, "BAD_REQUEST"),
        ({"user": "x", "seats": [1]}, 400, "BAD_REQUEST"),
        ([1, 2], 400, "BAD_REQUEST"),
    ]
    for req, want_http, want_status in cases:
        status, body, _ = gw.call("POST", path, req)
        assert (status, body["status"]) == (want_http, want_status), (req, body)
        assert body["message"]
    # One seat taken in every row of 10: no 10 adjacent seats are left.
    status, _, _ = gw.call("POST", path, {"user": 8, "seats": list(range(5, 100, 10))})
    assert status == 201
    status, body, _ = gw.call("POST", path, {"user": 9, "best": 10})
    assert status == 409 and body["status"] == "NOT_ENOUGH"
    status, body, _ = gw.call("POST", path, '{"user": 7, "seats": [1,')
    assert status == 400 and "invalid JSON" in body["message"]
    status, body, _ = gw.call(
        "POST", "/events/%d/holds" % (event + 10**9), {"user": 1, "best": 1}
    )
    assert status == 404 and body["status"] == "NO_EVENT"


def test_paths_methods_and_ids(gw: Gateway, event: int) -> None:
    assert gw.call("GET", "/nowhere")[0] == 404
    assert gw.call("GET", "/events/%d/holds/1/confirm/x" % event)[0] == 404
    status, body, _ = gw.call("GET", "/events/%d/holds" % event)
    assert status == 405 and body["status"] == "METHOD_NOT_ALLOWED"
    assert gw.call("PUT", "/healthz")[0] == 405
    for bad in ("0", "abc", "18446744073709551616", "-1"):
        status, body, _ = gw.call("GET", "/events/%s/seats/available" % bad)
        assert status == 400 and "event id" in body["message"], bad
    status, body, _ = gw.call("DELETE", "/events/%d/holds/0" % event)
    assert status == 400 and "hold id" in body["message"]
    # The largest id is accepted (and the event does not exist).
    assert gw.call("GET", "/events/18446744073709551615/seats/available")[0] == 404


# ---- idempotency ----


def test_idempotency_key_replay(gw: Gateway, event: int) -> None:
    path = "/events/%d/holds" % event
    key = {"Idempotency-Key": "order-4711"}
    status, first, _ = gw.call("POST", path, {"user": 7, "best": 3}, key)
    assert status == 201 and first["hold_id"] == hold_id_of_key(event, b"order-4711")
    # The same body again: the first answer, the same seats, nothing more held.
    status, again, _ = gw.call("POST", path, {"user": 7, "best": 3}, key)
    assert status == 201 and again == first
    assert gw.call("GET", "/events/%d/seats/available" % event)[1]["free"] == 97
    # Another body with the same key: refused, nothing changes.
    status, body, _ = gw.call("POST", path, {"user": 7, "best": 4}, key)
    assert status == 422 and body["status"] == "ID_CONFLICT"
    # The same key on another event is another hold.
    other = event + (1 << 50)
    gw.call("POST", "/events", {"event_id": other, "seats": 10})
    status, body, _ = gw.call("POST", "/events/%d/holds" % other, {"user": 7, "best": 3}, key)
    assert status == 201 and body["hold_id"] == hold_id_of_key(other, b"order-4711")
    assert body["hold_id"] != first["hold_id"]
    # Without a key every POST is a new hold.
    a = gw.call("POST", path, {"user": 9, "best": 1})[1]
    b = gw.call("POST", path, {"user": 9, "best": 1})[1]
    assert a["hold_id"] != b["hold_id"]


def test_idempotency_key_bounds(gw: Gateway, event: int) -> None:
    path = "/events/%d/holds" % event
    status, body, _ = gw.call("POST", path, {"user": 7, "best": 1}, {"Idempotency-Key": "k" * 256})
    assert status == 400 and "Idempotency-Key" in body["message"]
    status, body, _ = gw.call("POST", path, {"user": 7, "best": 1}, {"Idempotency-Key": "k" * 255})
    assert status == 201 and body["hold_id"] == hold_id_of_key(event, b"k" * 255)
    status, body, _ = gw.call("POST", path, {"user": 7, "best": 1}, {"Idempotency-Key": ""})
    assert status == 400


# ---- HTTP itself: malformed, limits, keep-alive, pipelining ----


def test_malformed_http_is_400_and_closed(gw: Gateway) -> None:
    junk = (
        b"GARBAGE\r\n\r\n",
        b"\x00\x01\x02\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nBad Header\r\n\r\n",
    )
    for data in junk:
        ((status, body),) = parse_responses(gw.raw(data))
        assert status == 400 and b"BAD_REQUEST" in body, data
    # A malformed request after a good one: the good one is answered, then the 400.
    out = parse_responses(gw.raw(b"GET /healthz HTTP/1.1\r\n\r\nGARBAGE\r\n\r\n"))
    assert [s for s, _ in out] == [200, 400]
    ((status, body),) = parse_responses(gw.raw(b"GET /healthz HTTP/9.9\r\n\r\n"))
    assert status == 505 and b"HTTP_VERSION" in body


def test_size_limits(gw: Gateway, event: int) -> None:
    path = "/events/%d/holds" % event
    out = gw.raw(b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Length: 16385\r\n\r\n" % path.encode())
    assert parse_responses(out)[0][0] == 413
    chunked = b"POST %s HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" % path.encode()
    chunked += b"4000\r\n" + b" " * 0x4000 + b"\r\n10\r\n" + b" " * 16 + b"\r\n0\r\n\r\n"
    assert parse_responses(gw.raw(chunked))[0][0] == 413
    out = gw.raw(b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    assert parse_responses(out)[0][0] == 431
    out = gw.raw(b"GET /" + b"a" * 3000 + b" HTTP/1.1\r\n\r\n")
    assert parse_responses(out)[0][0] == 414
    # At the limit: a 16384-byte body is read (and is valid JSON padded with spaces).
    body = b'{"user": 7, "best": 1}'
    body += b" " * (16384 - len(body))
    status, answer, _ = gw.call("POST", path, body)
    assert status == 201, answer


def test_keep_alive_and_pipelining(gw: Gateway, event: int) -> None:
    c = gw.conn()
    for _ in range(5):  # one connection, five requests
        assert gw.call("GET", "/events/%d/seats/available" % event, conn=c)[0] == 200
    c.close()
    reqs = b""
    n = 40
    for i in range(n):
        body = b'{"user": %d, "seats": [%d]}' % (i + 1, i)
        reqs += b"POST /events/%d/holds HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%s" % (
            event,
            len(body),
            body,
        )
    reqs += b"GET /events/%d/seats/available HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" % (
        event
    )
    out = parse_responses(gw.raw(reqs))
    assert len(out) == n + 1
    for i, (status, body) in enumerate(out[:n]):
        assert status == 201 and (b'"seats":[%d]' % i) in body, (i, body)
    assert out[n][0] == 200 and b'"free":%d' % (100 - n) in out[n][1]


def test_http_10_closes(gw: Gateway) -> None:
    out = gw.raw(b"GET /healthz HTTP/1.0\r\n\r\n")
    assert parse_responses(out)[0][0] == 200


# ---- limits that need their own gateway or holdfastd ----


def test_connection_limit_503(server: hfutil.Server) -> None:
    g = start_gateway(server.addr(0), "--threads", "1", "--max-conns", "2")
    try:
        held = [g.conn(), g.conn()]
        for c in held:
            assert g.call("GET", "/healthz", conn=c)[0] == 200
        ((status, body),) = parse_responses(g.raw(b"GET /healthz HTTP/1.1\r\n\r\n"))
        assert status == 503 and b"TOO_MANY_CONNECTIONS" in body
        held[0].close()
        # The freed slot serves again (bounded wait for the close to reach the gateway).
        deadline = time.monotonic() + HTTP_TIMEOUT_S
        while True:
            out = parse_responses(g.raw(b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"))
            if out[0][0] == 200:
                break
            assert time.monotonic() < deadline, "the closed connection's slot was not freed"
            time.sleep(0.05)
        held[1].close()
    finally:
        assert stop_gateway(g) == 0


def test_rate_limited_429_with_retry_after(tmp_path: object) -> None:
    # holdfastd with --user-rate, through the same harness: a wrapper adds the flag.
    wrapper = os.path.join(tempfile.mkdtemp(prefix="hf-gw-"), "holdfastd-rate")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nexec "%s" --user-rate 1:1 "$@"\n' % hfutil.HOLDFASTD)
    os.chmod(wrapper, stat.S_IRWXU)
    real = hfutil.HOLDFASTD
    hfutil.HOLDFASTD = wrapper
    try:
        s = hfutil.start_server(shards=1, durability="none")
    finally:
        hfutil.HOLDFASTD = real
    try:
        g = start_gateway(s.addr(0), "--threads", "1")
        try:
            assert g.call("POST", "/events", {"event_id": 5, "seats": 50})[0] == 201
            path = "/events/5/holds"
            assert g.call("POST", path, {"user": 1, "best": 1})[0] == 201
            status, body, r = g.call("POST", path, {"user": 1, "best": 1})
            assert status == 429 and body["status"] == "RATE_LIMITED"
            assert int(r.getheader("Retry-After")) >= 1 and body["detail"] >= 1
        finally:
            assert stop_gateway(g) == 0
    finally:
        hfutil.stop_server(s)
        os.unlink(wrapper)
        os.rmdir(os.path.dirname(wrapper))


def test_lost_contact_503(gw: Gateway) -> None:
    s = hfutil.start_server(shards=1, durability="none")
    g = start_gateway(s.addr(0), "--threads", "1", "--deadline", "800")
    try:
        assert g.call("POST", "/events", {"event_id": 9, "seats": 10})[0] == 201
        hfutil.stop_server(s)
        status, body, r = g.call("POST", "/events/9/holds", {"user": 1, "best": 1})
        assert status == 503 and body["status"] == "UNAVAILABLE"
        assert r.getheader("Retry-After") == "1"
        status, body, _ = g.call("GET", "/healthz")
        assert status == 503 and body["status"] == "UNAVAILABLE"
    finally:
        assert stop_gateway(g) == 0


# ---- the command line ----


def test_command_line() -> None:
    import subprocess

    out = subprocess.run([HOLDFAST_HTTP, "--help"], capture_output=True, timeout=10)
    assert out.returncode == 0 and b"--listen HOST:PORT" in out.stdout
    for bad in (["--threads", "0"], ["--listen", "nowhere"], ["--bogus"], ["--max-conns"]):
        out = subprocess.run([HOLDFAST_HTTP] + bad, capture_output=True, timeout=10)
        assert out.returncode == 2 and b"usage:" in out.stderr, bad
    with tempfile.NamedTemporaryFile("w") as f:
        out = subprocess.run(
            [HOLDFAST_HTTP, "--token-file", f.name], capture_output=True, timeout=10
        )
        assert out.returncode == 2 and b"token" in out.stderr
    # Nothing listens on this port: start fails with a clear message and exit 1.
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    out = subprocess.run(
        [HOLDFAST_HTTP, "--listen", "127.0.0.1:0", "--holdfast", "127.0.0.1:%d" % port],
        capture_output=True,
        timeout=30,
    )
    assert out.returncode == 1 and b"cannot reach holdfast" in out.stderr


def test_idle_and_slow_connections_are_closed(server: hfutil.Server) -> None:
    g = start_gateway(
        server.addr(0), "--threads", "1", "--idle-timeout", "1", "--request-timeout", "1"
    )
    try:
        idle = socket.create_connection(("127.0.0.1", g.port), timeout=HTTP_TIMEOUT_S)
        slow = socket.create_connection(("127.0.0.1", g.port), timeout=HTTP_TIMEOUT_S)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # never completed
        busy = g.conn()
        t0 = time.monotonic()
        # A connection that keeps asking stays open past both timeouts.
        while time.monotonic() - t0 < 2.5:
            assert g.call("GET", "/healthz", conn=busy)[0] == 200
            time.sleep(0.3)
        # The sweep runs every second: both are closed within timeout + 1 s (+ slack).
        for s in (idle, slow):
            assert s.recv(1) == b"", "the gateway did not close an idle or stalled connection"
            s.close()
        assert time.monotonic() - t0 < HTTP_TIMEOUT_S
        busy.close()
    finally:
        assert stop_gateway(g) == 0
