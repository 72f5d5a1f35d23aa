"""Goal: the Python package exposes the waiting room: join, position, room_set, room_info and
hold(token=...) on both the blocking and the asyncio client, with NOT_ADMITTED, NO_ROOM and
SOLD_OUT as HoldfastError statuses, and a released seat admitting the next buyer.

Method: the session's holdfastd (2 shards); fresh events on each shard, a one- or two-seat room, and
the buyers' journey through it, checked against room_info and the CLI-visible fields."""

from __future__ import annotations

import asyncio
from typing import Callable

import pytest

import hfutil
from holdfast import AsyncClient, Client, HoldfastError, RoomPosition

NewEvent = Callable[..., int]


def refused(status: str, fn: Callable[[], object]) -> None:
    with pytest.raises(HoldfastError) as e:
        fn()
    assert e.value.status == status, str(e.value)


@pytest.mark.parametrize("shard", [0, 1])
def test_room_journey(client: Client, new_event: NewEvent, shard: int) -> None:
    e = new_event(shard)
    client.create_event(e, seats=1)
    refused("NO_ROOM", lambda: client.join(e, user=1))
    client.room_set(e, shoppers_per_seat=1.0, admit_ttl=60, queue_max=10)
    first = client.join(e, user=1)
    assert isinstance(first, RoomPosition)
    assert first.admitted and first.token is not None and len(first.token) == 40
    second = client.join(e, user=2)
    assert second.state == "waiting" and second.position == 1 and second.token is None
    assert client.position(e, user=2).position == 1
    refused("NOT_IN_QUEUE", lambda: client.position(e, user=3))
    refused("NOT_ADMITTED", lambda: client.hold(e, user=1, best=1))
    refused("NOT_ADMITTED", lambda: client.hold(e, user=2, best=1, token=first.token))
    with pytest.raises(ValueError, match="40 bytes"):
        client.hold(e, user=1, best=1, token=b"short")
    h = client.hold(e, user=1, best=1, token=first.token)
    assert h.seats == (0,)
    info = client.room_info(e)
    assert (info.enabled, info.length, info.admitted, info.holding, info.free) == (
        True,
        1,
        0,
        1,
        0,
    )
    assert info.policy == "requeue" and info.queue_max == 10 and info.refused == 2
    # The seat comes back: buyer 2 is admitted; booking it sells the event out.
    client.release(e, h.id)
    now = client.position(e, user=2)
    assert now.admitted and now.token is not None
    b = client.hold(e, user=2, best=1, token=now.token)
    client.confirm(e, b.id)
    client.confirm(e, b.id)
    refused("SOLD_OUT", lambda: client.join(e, user=9))
    assert client.room_info(e).sold_out
    client.room_set(e, enabled=False)  # the other parameters stay as they were
    off = client.room_info(e)
    assert (off.enabled, off.queue_max, off.admit_ttl) == (False, 10, 60.0)
    refused("NO_ROOM", lambda: client.position(e, user=2))
    with pytest.raises(ValueError):
        client.room_set(e, policy="sometimes")


def test_room_async(server: hfutil.Server, new_event: NewEvent) -> None:
    async def run() -> None:
        async with AsyncClient(server.addr(0), timeout=5.0, deadline=20.0) as c:
            e = new_event()
            await c.create_event(e, seats=2)
            await c.room_set(e, policy="drop", admit_ttl=30)
            pos = await c.join(e, user=5)
            assert pos.admitted
            h = await c.hold(e, user=5, seats=[1], token=pos.token)
            assert h.seats == (1,)
            info = await c.room_info(e)
            assert info.policy == "drop" and info.holding == 1
            assert (await c.position(e, user=5)).admitted

    asyncio.run(run())
