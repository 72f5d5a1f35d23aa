"""Goal: every way a request can fail reaches the caller as a HoldfastError with a clear .status
and message, in bounded time: a malformed or short reply from a server (PROTOCOL, resent within
the retries first), an unknown status (final, not resent), BUSY and TRY_AGAIN (backed off and
resent until they clear, or until the deadline), IO (final), and no server at all (UNAVAILABLE).

Method: a fake shard (hfutil.FakeShard) that serves a one-owner slot map and answers HOLD with
scripted bytes; blocking and asyncio clients with small timeouts and deadlines; the fake's request
log shows how many times each request was sent, and every resend carries the same bytes but
the request id."""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from typing import Callable, List, Optional, Tuple, Union

import pytest

import hfutil
import holdfast._proto as p
from holdfast import AsyncClient, Client, HoldfastError, HoldfastUnavailable, ProtocolError

Reply = Optional[Union[bytes, Tuple[bytes, bool]]]
Script = Callable[[hfutil.Request, int], Reply]


def good_hold(req: hfutil.Request) -> bytes:
    event_id, hold_id = struct.unpack_from("<QQ", req.body)
    body = struct.pack("<QQII", hold_id, 1767225720000, 1, 7)
    return hfutil.reply_frame(p.OP_HOLD, req.request_id, 0, body)


def fake_with(script: Script) -> Tuple[hfutil.FakeShard, List[hfutil.Request]]:
    holds: List[hfutil.Request] = []

    def handler(req: hfutil.Request) -> Reply:
        if req.opcode == p.OP_SLOT_MAP:
            return None
        holds.append(req)
        return script(req, len(holds))

    return hfutil.FakeShard(handler), holds


def blocking_hold(fake: hfutil.FakeShard, **opts: float) -> object:
    with Client(fake.addr, **opts) as c:  # type: ignore[arg-type]
        return c.hold(42, user=1, seats=[7], ttl=10, id=5)


def async_hold(fake: hfutil.FakeShard, **opts: float) -> object:
    async def go() -> object:
        async with AsyncClient(fake.addr, **opts) as c:  # type: ignore[arg-type]
            return await c.hold(42, user=1, seats=[7], ttl=10, id=5)

    return asyncio.run(go())


CLIENTS = [blocking_hold, async_hold]

MALFORMED = [
    (
        "bad magic",
        lambda r: b"XX" + hfutil.error_frame(p.OP_HOLD, r.request_id, 0)[2:],
        "bad frame magic",
    ),
    (
        "not a reply",
        lambda r: hfutil.reply_frame(p.OP_HOLD, r.request_id, 0, b"")[:4]
        + b"\0\0"
        + hfutil.reply_frame(p.OP_HOLD, r.request_id, 0, b"")[6:],
        "not a reply",
    ),
    (
        "short body",
        lambda r: hfutil.reply_frame(p.OP_HOLD, r.request_id, 0, b"\0" * 12),
        "HOLD reply body of 12 bytes",
    ),
    (
        "oversized",
        lambda r: struct.pack(
            "<HBBHHQII", 0x4648, 1, p.OP_HOLD, 1, 0, r.request_id, p.FRAME_BODY_SIZE_MAX + 1, 0
        ),
        "exceeds",
    ),
    ("wrong opcode", lambda r: hfutil.reply_frame(p.OP_PING, r.request_id, 0, b"\0" * 8), "opcode"),
    (
        "wrong request id",
        lambda r: hfutil.reply_frame(p.OP_HOLD, r.request_id + 1000, 0, b"\0" * 8),
        "request",
    ),
    (
        "short error body",
        lambda r: hfutil.reply_frame(
            p.OP_HOLD, r.request_id, p.SEAT_TAKEN if hasattr(p, "SEAT_TAKEN") else 19, b"\0" * 4
        ),
        "error reply body of 4 bytes",
    ),
]


@pytest.mark.parametrize("call", CLIENTS, ids=["blocking", "async"])
@pytest.mark.parametrize("name,make,match", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_reply_is_a_protocol_error(
    call: Callable[..., object], name: str, make: Callable[[hfutil.Request], bytes], match: str
) -> None:
    fake, holds = fake_with(lambda req, n: make(req))
    try:
        t0 = time.monotonic()
        with pytest.raises(ProtocolError, match=match) as err:
            call(fake, timeout=1.0, deadline=5.0, retries=1)
        assert time.monotonic() - t0 < 5.0
        assert err.value.status == "PROTOCOL" and err.value.opcode == "HOLD"
        assert "2 attempts" in str(err.value)
        assert len(holds) == 2, "resent once (retries=1), then the error"
        assert holds[0].body == holds[1].body, "the resend carries the same ids"
    finally:
        fake.stop()


@pytest.mark.parametrize("call", CLIENTS, ids=["blocking", "async"])
def test_short_reply_then_close(call: Callable[..., object]) -> None:
    fake, holds = fake_with(
        lambda req, n: (good_hold(req)[:10], True) if n == 1 else good_hold(req)
    )
    try:
        h = call(fake, timeout=1.0, deadline=5.0)
        assert getattr(h, "id") == 5 and len(holds) == 2
    finally:
        fake.stop()
    fake, holds = fake_with(lambda req, n: (good_hold(req)[:10], True))
    try:
        with pytest.raises(HoldfastError) as err:
            call(fake, timeout=1.0, deadline=5.0, retries=2)
        assert err.value.status == "TIMEOUT" and "outcome is unknown" in str(err.value)
        assert len(holds) == 3
    finally:
        fake.stop()


@pytest.mark.parametrize("call", CLIENTS, ids=["blocking", "async"])
def test_busy_and_try_again_are_resent(call: Callable[..., object]) -> None:
    fake, holds = fake_with(
        lambda req, n: hfutil.error_frame(
            p.OP_HOLD, req.request_id, p.BUSY if n == 1 else p.TRY_AGAIN
        )
        if n <= 2
        else good_hold(req)
    )
    try:
        h = call(fake, timeout=1.0, deadline=5.0)
        assert getattr(h, "seats") == (7,) and len(holds) == 3
    finally:
        fake.stop()


@pytest.mark.parametrize("call", CLIENTS, ids=["blocking", "async"])
def test_try_again_until_the_deadline(call: Callable[..., object]) -> None:
    fake, holds = fake_with(
        lambda req, n: hfutil.error_frame(p.OP_HOLD, req.request_id, p.TRY_AGAIN)
    )
    try:
        t0 = time.monotonic()
        with pytest.raises(HoldfastError) as err:
            call(fake, timeout=1.0, deadline=0.5, retries=0)
        elapsed = time.monotonic() - t0
        assert err.value.status == "TRY_AGAIN" and err.value.code == p.TRY_AGAIN
        assert 0.4 < elapsed < 3.0
        assert 3 < len(holds) < 1000, "backed off (capped at 100 ms), not spinning"
    finally:
        fake.stop()


@pytest.mark.parametrize("call", CLIENTS, ids=["blocking", "async"])
@pytest.mark.parametrize("status,name", [(77, "UNKNOWN_77"), (p.IO, "IO"), (8, "INTERNAL")])
def test_final_statuses_are_not_resent(call: Callable[..., object], status: int, name: str) -> None:
    fake, holds = fake_with(lambda req, n: hfutil.error_frame(p.OP_HOLD, req.request_id, status, 3))
    try:
        with pytest.raises(HoldfastError) as err:
            call(fake, timeout=1.0, deadline=5.0)
        assert (err.value.status, err.value.code, err.value.detail) == (name, status, 3)
        assert len(holds) == 1
    finally:
        fake.stop()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_no_server_is_unavailable() -> None:
    addr = "127.0.0.1:%d" % closed_port()
    t0 = time.monotonic()
    with pytest.raises(HoldfastUnavailable) as err:
        Client(addr, deadline=1.0)
    assert err.value.status == "UNAVAILABLE" and "cannot connect" in str(err.value)
    assert time.monotonic() - t0 < 3.0

    async def go() -> None:
        c = AsyncClient(addr, deadline=1.0)
        with pytest.raises(HoldfastUnavailable):
            await c.ping()
        await c.close()

    asyncio.run(go())


def test_silent_server_times_out() -> None:
    fake, holds = fake_with(lambda req, n: b"")
    try:
        t0 = time.monotonic()
        with pytest.raises(HoldfastError) as err:
            blocking_hold(fake, timeout=0.2, deadline=5.0, retries=2)
        assert err.value.status == "TIMEOUT" and "no reply" in str(err.value)
        assert 0.5 < time.monotonic() - t0 < 3.0
        assert len(holds) == 3 and len({h.body for h in holds}) == 1
    finally:
        fake.stop()


def test_attempt_budget_and_backoff_bounds() -> None:
    """The named bounds of one call: at most ATTEMPTS_MAX attempts whatever the deadline, at most
    `retries` transport failures, and backoffs between half and all of min(cap, base * 2**n)."""
    import holdfast._core as core

    req = core.req_ping(None)
    att = core.Attempts(core.Options(deadline=600.0, retries=1000), req)
    n = 0
    while att.next():
        n += 1
        assert n <= core.ATTEMPTS_MAX
    assert n == core.ATTEMPTS_MAX
    att = core.Attempts(core.Options(retries=2), req)
    starts = 0
    while att.next():
        starts += 1
        att.transport_failed(HoldfastError("TIMEOUT", "lost"))
    assert starts == 3
    assert att.failure().status == "TIMEOUT"
    for attempt in range(0, 40):
        for _ in range(20):
            v = core.backoff_s(attempt, core.BACKOFF_BUSY_S, core.BACKOFF_BUSY_S_MAX)
            top = min(core.BACKOFF_BUSY_S_MAX, core.BACKOFF_BUSY_S * 2 ** min(attempt, 16))
            assert top / 2 <= v <= top


def test_async_close_fails_requests_in_flight() -> None:
    """Requests in flight when the client closes end at once with CLOSED, not at their deadline."""
    fake, holds = fake_with(lambda req, n: b"")

    async def go() -> None:
        c = AsyncClient(fake.addr, timeout=30.0, deadline=60.0)
        await c.connect()
        tasks = [asyncio.ensure_future(c.hold(42, user=u, seats=[u], ttl=10)) for u in range(50)]
        await asyncio.sleep(0)
        hfutil_wait = asyncio.get_running_loop().time() + 10.0
        # Bounded: wait until the fake has read them all, at most 10 s.
        while len(holds) < 50 and asyncio.get_running_loop().time() < hfutil_wait:
            await asyncio.sleep(0.01)
        assert len(holds) == 50
        await c.close()
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5.0)
        assert {getattr(r, "status", None) for r in results} == {"CLOSED"}

    try:
        asyncio.run(go())
    finally:
        fake.stop()


def test_async_shared_failure_gives_each_request_its_own_error() -> None:
    """One broken connection fails every request on it: each gets its own exception, whose
    message names its own attempts once."""
    fake, holds = fake_with(lambda req, n: None)  # close the connection on every HOLD

    async def go() -> list:
        async with AsyncClient(fake.addr, timeout=2.0, deadline=10.0, retries=1) as c:
            return await asyncio.gather(
                *(c.hold(42, user=u, seats=[u], ttl=10) for u in range(20)), return_exceptions=True
            )

    try:
        results = asyncio.run(go())
    finally:
        fake.stop()
    assert all(isinstance(r, HoldfastError) and r.status == "TIMEOUT" for r in results)
    assert len({id(r) for r in results}) == 20
    assert all(str(r).count("attempts") == 1 for r in results), str(results[0])


def test_async_matches_replies_by_request_id() -> None:
    """Replies that come back in another order than the requests still reach their own callers
    (docs/protocol.md section 1: match by request_id, not by position)."""
    held: List[hfutil.Request] = []

    def reversed_replies(req: hfutil.Request, n: int) -> Reply:
        held.append(req)
        if len(held) < 10:
            return b""
        out = b""
        for r in reversed(held):
            event_id, hold_id, user = struct.unpack_from("<QQQ", r.body)
            (seat,) = struct.unpack_from("<I", r.body, 36)
            body = struct.pack("<QQII", hold_id, 1767225720000, 1, seat)
            out += hfutil.reply_frame(p.OP_HOLD, r.request_id, 0, body)
        held.clear()
        return out

    fake, holds = fake_with(reversed_replies)

    async def go() -> list:
        async with AsyncClient(fake.addr, timeout=5.0, deadline=10.0) as c:
            return await asyncio.gather(
                *(c.hold(42, user=u, seats=[100 + u], ttl=10, id=1000 + u) for u in range(10))
            )

    try:
        got = asyncio.run(go())
    finally:
        fake.stop()
    assert [(h.id, h.seats) for h in got] == [(1000 + u, (100 + u,)) for u in range(10)]
