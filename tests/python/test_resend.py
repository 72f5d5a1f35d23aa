"""Goal: a request whose answer is lost is resent with the same ids and gets the first answer:
the hold is made once, the caller sees the same hold id and seats, and nothing is held twice.
Both ways of losing it: the connection closes after the request was applied (the reply dropped),
and the reply never comes on a connection that stays open (the attempt times out). A request
whose answers keep getting lost fails with TIMEOUT after its retries, within the deadline.

Method: the session's holdfastd behind one in-test proxy per shard (hfutil.LossyProxy) that drops
the first HOLD reply (and closes, or keeps silent); clients route through the proxies by a forced
map with the server's own epoch, so no MOVED is involved. Check the outcome with EVENT_INFO and
SEAT_STATUS on a direct client."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Callable, Dict, Iterator, List

import pytest

import hfutil
import holdfast._proto as p
from holdfast import AsyncClient, Client, HoldfastError, SlotMap, SlotOwner

NewEvent = Callable[..., int]


class Losses:
    """Drops the first `count` replies with opcode `opcode`, with verdict `how`."""

    def __init__(self, opcode: int, how: str, count: int = 1) -> None:
        self.opcode = opcode
        self.how = how
        self.left = count
        self.dropped = 0
        self.lock = threading.Lock()

    def __call__(self, h: p.Header) -> str:
        with self.lock:
            if h.opcode == self.opcode and self.left > 0:
                self.left -= 1
                self.dropped += 1
                return self.how
        return "pass"


def proxied_map(real: SlotMap, proxies: List[hfutil.LossyProxy]) -> SlotMap:
    return SlotMap(
        real.epoch, tuple(SlotOwner("127.0.0.1", x.port) for x in proxies), real.slot_owner
    )


@pytest.fixture
def proxies(server: hfutil.Server) -> Iterator[Callable[[Losses], List[hfutil.LossyProxy]]]:
    made: List[hfutil.LossyProxy] = []

    def make(losses: Losses) -> List[hfutil.LossyProxy]:
        for i in range(server.shards):
            made.append(hfutil.LossyProxy(("127.0.0.1", server.port + i), losses))
        return made[-server.shards :]

    yield make
    for x in made:
        x.stop()


@pytest.mark.parametrize("how", ["close", "drop"])
def test_blocking_resend_gets_the_same_hold(
    client: Client,
    new_event: NewEvent,
    proxies: Callable[[Losses], List[hfutil.LossyProxy]],
    server: hfutil.Server,
    how: str,
) -> None:
    e = new_event(1)
    client.create_event(e, seats=100)
    losses = Losses(p.OP_HOLD, how)
    px = proxies(losses)
    # The timeout only matters for "drop" (a reply that never comes); 1 s leaves room for a loaded
    # machine's slow answers to the other requests.
    with Client(server.addr(0), timeout=1.0, deadline=10.0) as c:
        c._force_map(proxied_map(c.routing_map, px))
        h = c.hold(e, user=5, seats=[10, 11], ttl=60, id=777)
        assert (h.id, h.seats) == (777, (10, 11))
        assert losses.dropped == 1
        assert px[1].accepted == 2, "the resend went on a new connection"
    info = client.event_info(e)
    assert (info.held, info.holds) == (2, 1)
    assert [s.owner_id for s in client.seat_status(e, [10, 11])] == [777, 777]


def test_blocking_best_available_resend_is_not_a_second_hold(
    client: Client,
    new_event: NewEvent,
    proxies: Callable[[Losses], List[hfutil.LossyProxy]],
    server: hfutil.Server,
) -> None:
    e = new_event(0)
    client.create_event(e, seats=100)
    losses = Losses(p.OP_HOLD, "close")
    px = proxies(losses)
    with Client(server.addr(0), timeout=1.0, deadline=10.0) as c:
        c._force_map(proxied_map(c.routing_map, px))
        h = c.hold(e, user=5, best=3, ttl=60)  # generated id, kept for the resend
    assert h.seats == (0, 1, 2)
    info = client.event_info(e)
    assert (info.held, info.holds) == (3, 1)


def test_blocking_lost_every_time_is_timeout(
    client: Client,
    new_event: NewEvent,
    proxies: Callable[[Losses], List[hfutil.LossyProxy]],
    server: hfutil.Server,
) -> None:
    e = new_event(1)
    client.create_event(e, seats=100)
    losses = Losses(p.OP_HOLD, "close", count=1000)
    px = proxies(losses)
    with Client(server.addr(0), timeout=0.5, deadline=10.0, retries=2) as c:
        c._force_map(proxied_map(c.routing_map, px))
        t0 = time.monotonic()
        with pytest.raises(HoldfastError) as err:
            c.hold(e, user=5, seats=[1], ttl=60, id=4242)
        assert time.monotonic() - t0 < 10.0
    assert err.value.status == "TIMEOUT"
    assert "same ids" in str(err.value) and "3 attempts" in str(err.value)
    assert losses.dropped == 3
    # The outcome was unknown, not absent: the hold exists, once.
    assert client.seat_status(e, [1])[0].owner_id == 4242
    assert client.hold(e, user=5, seats=[1], ttl=60, id=4242).id == 4242
    assert client.event_info(e).holds == 1


@pytest.mark.parametrize("how", ["close", "drop"])
def test_async_resend_gets_the_same_holds(
    client: Client,
    new_event: NewEvent,
    proxies: Callable[[Losses], List[hfutil.LossyProxy]],
    server: hfutil.Server,
    how: str,
) -> None:
    e = new_event(0)
    client.create_event(e, seats=300)
    losses = Losses(p.OP_HOLD, how, count=3 if how == "close" else 2)
    px = proxies(losses)

    async def run() -> Dict[int, tuple]:
        # 200 holds in flight: on a loaded machine some answers take long, and a timeout (or a
        # close) counts one attempt for every request on the connection, hence the room.
        async with AsyncClient(server.addr(0), timeout=1.5, deadline=20.0, retries=10) as c:
            m = c.routing_map
            assert m is not None
            c._force_map(proxied_map(m, px))
            holds = await asyncio.gather(
                *(c.hold(e, user=u, seats=[u], ttl=60, id=1000 + u) for u in range(200))
            )
            return {h.id: h.seats for h in holds}

    got = asyncio.run(run())
    assert got == {1000 + u: (u,) for u in range(200)}
    assert losses.dropped == (3 if how == "close" else 2)
    info = client.event_info(e)
    assert (info.held, info.holds) == (200, 200)
