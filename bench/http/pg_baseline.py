#!/usr/bin/python3
"""The replay's baseline: the same HTTP API as holdfast-http, written the way the source report's
system was, so that the comparison is measured rather than quoted: Python's standard
http.server (ThreadingHTTPServer: a thread per connection) in front of PostgreSQL 15 through
psycopg2, one transaction per request, and the usual SELECT ... FOR UPDATE on the seat rows of a
hold.

    pg_baseline.py --listen 127.0.0.1:PORT --dsn "host=DIR port=P dbname=postgres user=postgres"
                   [--pool N]

Prints "pg-baseline listening on HOST:PORT" once it serves. Deliberately plain: one row per seat
(PRIMARY KEY (event_id, seat)), one row per hold, a connection pool of --pool connections
(default 32, each request waits for one), no caching, no request log. Not a product: holds do
not expire (nothing in the replay lives long enough to), and "best" takes the lowest free seats,
adjacent or not. Routes, bodies and error bodies are holdfast-http's (README, "HTTP service"):

    GET    /healthz
    POST   /events                          {"event_id", "seats", ...}      201 | 409 EVENT_EXISTS
    POST   /events/{id}/holds               {"user", "seats": [...] | "best": N, "ttl"}
                                            Idempotency-Key header          201 | 409 | 422 | 404
    GET    /events/{id}/seats/available[?first=&count=]                     200 | 404
    POST   /events/{id}/holds/{hold}/confirm                                200 | 404 | 409
    DELETE /events/{id}/holds/{hold}                                        200 | 404 | 409
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

import psycopg2
import psycopg2.pool

BODY_SIZE_MAX = 16384
HOLD_SEATS_MAX = 64
AVAIL_COUNT_MAX = 1024
FREE, HELD, BOOKED = 0, 1, 2
H_LIVE, H_CONFIRMED, H_RELEASED = 0, 1, 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id bigint PRIMARY KEY, seats integer NOT NULL, row_width integer NOT NULL,
    user_limit integer NOT NULL, hold_lifetime integer NOT NULL);
CREATE TABLE IF NOT EXISTS seats (
    event_id bigint NOT NULL, seat integer NOT NULL, state smallint NOT NULL DEFAULT 0,
    hold_id bigint, PRIMARY KEY (event_id, seat));
CREATE TABLE IF NOT EXISTS holds (
    event_id bigint NOT NULL, id bigint NOT NULL, user_id bigint NOT NULL,
    seats integer[] NOT NULL, request text NOT NULL, state smallint NOT NULL,
    deadline_ms bigint NOT NULL, PRIMARY KEY (event_id, id));
"""


class Refused(Exception):
    """An answer other than success: HTTP status, holdfast-style status name, message."""

    def __init__(self, http: int, status: str, message: str, detail: Optional[int] = None):
        super().__init__(message)
        self.http, self.status, self.message, self.detail = http, status, message, detail


class Pool:
    """psycopg2's ThreadedConnectionPool fails when empty; a semaphore makes callers wait."""

    def __init__(self, dsn: str, size: int) -> None:
        self.sem = threading.BoundedSemaphore(size)
        self.pool = psycopg2.pool.ThreadedConnectionPool(1, size, dsn)

    def run(self, fn: Any, *args: Any) -> Any:
        with self.sem:
            conn = self.pool.getconn()
            try:
                with conn:  # one transaction: commit on return, rollback on exception
                    with conn.cursor() as cur:
                        return fn(cur, *args)
            finally:
                self.pool.putconn(conn)


def hold_id_of_key(event_id: int, key: bytes) -> int:
    """holdfast-http's formula (gateway/api.c), so both services name a keyed hold alike."""
    mask = (1 << 64) - 1

    def fmix64(k: int) -> int:
        k ^= k >> 33
        k = (k * 0xFF51AFD7ED558CCD) & mask
        k ^= k >> 33
        k = (k * 0xC4CEB9FE1A85EC53) & mask
        return k ^ (k >> 33)

    h = 0xCBF29CE484222325
    for b in key:
        h = ((h ^ b) * 0x100000001B3) & mask
    return fmix64(h ^ fmix64(event_id)) or 1


def as_i64(u: int) -> int:
    """A u64 id as PostgreSQL's signed bigint (and back with as_u64)."""
    return u - (1 << 64) if u >= 1 << 63 else u


def as_u64(i: int) -> int:
    return i + (1 << 64) if i < 0 else i


# ---- the transactions ----


def tx_create_event(cur: Any, a: Dict[str, int]) -> Dict[str, int]:
    cur.execute(
        "INSERT INTO events VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING",
        (a["event_id"], a["seats"], a["row_width"], a["user_limit"], a["hold_lifetime"]),
    )
    if cur.rowcount == 0:
        cur.execute(
            "SELECT seats, row_width, user_limit, hold_lifetime FROM events WHERE id = %s",
            (a["event_id"],),
        )
        row = cur.fetchone()
        if row != (a["seats"], a["row_width"], a["user_limit"], a["hold_lifetime"]):
            raise Refused(409, "EVENT_EXISTS", "event exists with different parameters")
        return a
    cur.execute(
        "INSERT INTO seats (event_id, seat) SELECT %s, generate_series(0, %s - 1)",
        (a["event_id"], a["seats"]),
    )
    return a


def hold_answer(event_id: int, hold_id: int, seats: List[int], deadline_ms: int) -> Dict[str, Any]:
    return {"event_id": event_id, "hold_id": hold_id, "seats": seats, "deadline_ms": deadline_ms}


def tx_hold(cur: Any, event_id: int, hold_id: int, a: Dict[str, Any], request: str) -> Any:
    cur.execute(
        "SELECT user_id, seats, request, deadline_ms FROM holds WHERE event_id = %s AND id = %s",
        (event_id, as_i64(hold_id)),
    )
    row = cur.fetchone()
    if row is not None:  # a replay of the same id
        if row[2] != request:
            raise Refused(422, "ID_CONFLICT", "id already used for a different request")
        return hold_answer(event_id, hold_id, list(row[1]), row[3])
    cur.execute("SELECT seats FROM events WHERE id = %s", (event_id,))
    ev = cur.fetchone()
    if ev is None:
        raise Refused(404, "NO_EVENT", "no such event")
    if a.get("seats") is not None:
        seats = sorted(a["seats"])
        if len(set(seats)) != len(seats):
            raise Refused(400, "DUPLICATE_SEAT", "a seat appears twice in one request")
        for s in seats:
            if s >= ev[0]:
                raise Refused(400, "SEAT_RANGE", "seat outside the event", s)
        cur.execute(
            "SELECT seat, state FROM seats WHERE event_id = %s AND seat = ANY(%s) "
            "ORDER BY seat FOR UPDATE",
            (event_id, seats),
        )
        for seat, state in cur.fetchall():
            if state != FREE:
                raise Refused(409, "SEAT_TAKEN", "seat already held or booked", seat)
    else:
        cur.execute(
            "SELECT seat FROM seats WHERE event_id = %s AND state = 0 ORDER BY seat "
            "LIMIT %s FOR UPDATE",
            (event_id, a["best"]),
        )
        seats = [r[0] for r in cur.fetchall()]
        if len(seats) < a["best"]:
            raise Refused(409, "NOT_ENOUGH", "not enough adjacent free seats")
    deadline_ms = int(time.time() * 1000) + a.get("ttl", 1800) * 1000
    cur.execute(
        "UPDATE seats SET state = 1, hold_id = %s WHERE event_id = %s AND seat = ANY(%s)",
        (as_i64(hold_id), event_id, seats),
    )
    cur.execute(
        "INSERT INTO holds VALUES (%s, %s, %s, %s, %s, 0, %s)",
        (event_id, as_i64(hold_id), a["user"], seats, request, deadline_ms),
    )
    return hold_answer(event_id, hold_id, seats, deadline_ms)


def tx_hold_ref(cur: Any, event_id: int, hold_id: int, confirm: bool) -> Dict[str, Any]:
    cur.execute(
        "SELECT seats, state FROM holds WHERE event_id = %s AND id = %s FOR UPDATE",
        (event_id, as_i64(hold_id)),
    )
    row = cur.fetchone()
    if row is None:
        raise Refused(404, "NO_HOLD", "no such hold")
    seats, state = list(row[0]), row[1]
    if confirm:
        if state == H_RELEASED:
            raise Refused(409, "HOLD_RELEASED", "the hold was released")
        if state == H_LIVE:
            cur.execute(
                "UPDATE seats SET state = 2 WHERE event_id = %s AND seat = ANY(%s)",
                (event_id, seats),
            )
            cur.execute(
                "UPDATE holds SET state = 1 WHERE event_id = %s AND id = %s",
                (event_id, as_i64(hold_id)),
            )
        return {"event_id": event_id, "booking_id": hold_id, "seats": seats}
    if state == H_CONFIRMED:
        raise Refused(409, "HOLD_CONFIRMED", "the hold is already a booking")
    if state == H_LIVE:
        cur.execute(
            "UPDATE seats SET state = 0, hold_id = NULL WHERE event_id = %s AND seat = ANY(%s)",
            (event_id, seats),
        )
        cur.execute(
            "UPDATE holds SET state = 2 WHERE event_id = %s AND id = %s",
            (event_id, as_i64(hold_id)),
        )
    return {"event_id": event_id, "hold_id": hold_id, "released": True}


def free_ranges(free: List[int]) -> List[List[int]]:
    out: List[List[int]] = []
    for s in free:
        if out and out[-1][1] == s - 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out


def tx_avail(cur: Any, event_id: int, first: int, count: int) -> Dict[str, Any]:
    cur.execute("SELECT seats FROM events WHERE id = %s", (event_id,))
    ev = cur.fetchone()
    if ev is None:
        raise Refused(404, "NO_EVENT", "no such event")
    cur.execute("SELECT count(*) FROM seats WHERE event_id = %s AND state = 0", (event_id,))
    out: Dict[str, Any] = {"event_id": event_id, "seats": ev[0], "free": cur.fetchone()[0]}
    if count > 0:
        if first + count > ev[0]:
            raise Refused(400, "SEAT_RANGE", "seat outside the event", first + count - 1)
        cur.execute(
            "SELECT seat FROM seats WHERE event_id = %s AND seat >= %s AND seat < %s "
            "AND state = 0 ORDER BY seat",
            (event_id, first, first + count),
        )
        free = [r[0] for r in cur.fetchall()]
        out.update(first=first, count=count, free_in_range=len(free), ranges=free_ranges(free))
    return out


# ---- HTTP ----


def int_arg(d: Dict[str, Any], name: str, lo: int, hi: int, required: bool = False) -> int:
    v = d.get(name)
    if v is None:
        if required:
            raise Refused(400, "BAD_REQUEST", 'body: "%s" is required' % name)
        return 0
    if isinstance(v, str) and v.isdigit():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise Refused(
            400, "BAD_REQUEST", 'body: "%s" must be an integer in %d .. %d' % (name, lo, hi)
        )
    return v


def path_id(s: str, what: str) -> int:
    if not s.isdigit() or not 0 < int(s) < 1 << 64:
        raise Refused(
            400, "BAD_REQUEST", "the %s id must be a decimal integer in 1 .. 2^64-1" % what
        )
    return int(s)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    server_version = "pg-baseline"
    pool: Pool

    def log_message(self, format: str, *args: Any) -> None:  # no request log
        pass

    def answer(self, http: int, body: Dict[str, Any]) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(http)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        if n > BODY_SIZE_MAX:
            self.close_connection = True
            raise Refused(413, "BODY_TOO_LARGE", "request past a limit")
        try:
            return json.loads(self.rfile.read(n) or b"null")
        except ValueError as e:
            raise Refused(400, "BAD_REQUEST", "body: invalid JSON: %s" % e)

    def route(self, method: str) -> Tuple[int, Dict[str, Any]]:
        url = urlsplit(self.path)
        seg = [s for s in url.path.split("/") if s]
        if seg == ["healthz"] and method == "GET":
            self.pool.run(lambda cur: cur.execute("SELECT 1"))
            return 200, {"status": "ok"}
        if seg == ["events"] and method == "POST":
            b = self.body()
            a = {
                "event_id": int_arg(b, "event_id", 1, (1 << 63) - 1, True),
                "seats": int_arg(b, "seats", 1, 1 << 24, True),
                "row_width": int_arg(b, "row_width", 0, 1 << 24),
                "user_limit": int_arg(b, "user_limit", 0, (1 << 32) - 1),
                "hold_lifetime": int_arg(b, "hold_lifetime", 0, 86400),
            }
            return 201, self.pool.run(tx_create_event, a)
        if len(seg) >= 3 and seg[0] == "events":
            event_id = path_id(seg[1], "event")
            if seg[2:] == ["holds"] and method == "POST":
                return self.route_hold(event_id)
            if seg[2:] == ["seats", "available"] and method == "GET":
                q = parse_qs(url.query)
                first = int(q.get("first", ["0"])[0])
                count = int(q.get("count", ["0"])[0])
                if not 0 <= count <= AVAIL_COUNT_MAX:
                    raise Refused(400, "BAD_REQUEST", "query: count must be in 0 .. 1024")
                return 200, self.pool.run(tx_avail, event_id, first, count)
            if len(seg) == 5 and seg[2] == "holds" and seg[4] == "confirm" and method == "POST":
                return 200, self.pool.run(tx_hold_ref, event_id, path_id(seg[3], "hold"), True)
            if len(seg) == 4 and seg[2] == "holds" and method == "DELETE":
                return 200, self.pool.run(tx_hold_ref, event_id, path_id(seg[3], "hold"), False)
        raise Refused(404, "NOT_FOUND", "no such path")

    def route_hold(self, event_id: int) -> Tuple[int, Dict[str, Any]]:
        b = self.body()
        if not isinstance(b, dict):
            raise Refused(400, "BAD_REQUEST", "body: a JSON object is expected")
        a: Dict[str, Any] = {"user": int_arg(b, "user", 1, (1 << 63) - 1, True)}
        if ("seats" in b) == ("best" in b):
            raise Refused(400, "BAD_REQUEST", 'body: give either "seats" (a list) or "best" (N)')
        if "seats" in b:
            s = b["seats"]
            if not isinstance(s, list) or not 1 <= len(s) <= HOLD_SEATS_MAX:
                raise Refused(400, "BAD_REQUEST", 'body: "seats" must be a list of 1 .. 64')
            a["seats"] = [int_arg({"s": x}, "s", 0, (1 << 31) - 1, True) for x in s]
        else:
            a["best"] = int_arg(b, "best", 1, HOLD_SEATS_MAX, True)
        if "ttl" in b:
            a["ttl"] = int_arg(b, "ttl", 1, 86400, True)
        key = self.headers.get("Idempotency-Key")
        if key is not None:
            raw = key.encode()
            if not 1 <= len(raw) <= 255:
                raise Refused(400, "BAD_REQUEST", "Idempotency-Key must have 1 .. 255 bytes")
            hold_id = hold_id_of_key(event_id, raw)
        else:
            hold_id = random.getrandbits(64) or 1
        request = hashlib.sha256(json.dumps(a, sort_keys=True).encode()).hexdigest()
        return 201, self.pool.run(tx_hold, event_id, hold_id, a, request)

    def handle_method(self, method: str) -> None:
        try:
            http, body = self.route(method)
        except Refused as e:
            http, body = e.http, {"status": e.status, "message": e.message}
            if e.detail is not None:
                body["detail"] = e.detail
        except psycopg2.Error as e:
            http, body = 503, {"status": "UNAVAILABLE", "message": str(e).strip()[:200]}
        self.answer(http, body)

    def do_GET(self) -> None:
        self.handle_method("GET")

    def do_POST(self) -> None:
        self.handle_method("POST")

    def do_DELETE(self) -> None:
        self.handle_method("DELETE")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096  # listen backlog: the default 5 drops connects at 1000 clients


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:8090")
    ap.add_argument("--dsn", required=True)
    ap.add_argument("--pool", type=int, default=32)
    args = ap.parse_args()
    host, port = args.listen.rsplit(":", 1)
    Handler.pool = Pool(args.dsn, args.pool)
    Handler.pool.run(lambda cur: cur.execute(SCHEMA))
    srv = Server((host, int(port)), Handler)
    print("pg-baseline listening on %s:%d" % srv.server_address[:2], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
