"""Goal: the Python package's inventory operations work against a real holdfastd: create_event
with sections= and ga=, hold with section=, tier=, any=, no_orphan= and quantity=, event_sections()
and seat_info(); bad arguments are ValueError before anything is sent, refusals HoldfastError.

Method: the session's holdfastd (2 shards); fresh events from new_event(shard); every answer is
checked against event_sections() and seat_info() afterwards."""

from __future__ import annotations

import asyncio
from typing import Callable

import pytest

import hfutil
from holdfast import AsyncClient, Client, HoldfastError, Section

NewEvent = Callable[..., int]


@pytest.mark.parametrize("shard", [0, 1])
def test_sections_tiers_and_ga(client: Client, new_event: NewEvent, shard: int) -> None:
    e = new_event(shard)
    client.create_event(
        e,
        seats=40,
        row_width=10,
        sections=[("stalls", 0, 20, 1), Section("balcony", 20, 20, tier=2, row_width=5)],
        ga=[("floor", 100, 3)],
    )
    es = client.event_sections(e)
    assert [s.section.name for s in es.sections] == ["stalls", "balcony", "floor"]
    floor = es.section("floor")
    assert (floor.section.kind, floor.section.first, floor.section.count, floor.free) == (
        "ga",
        40,
        100,
        100,
    )
    assert [(t.tier, t.seats, t.free) for t in es.tiers] == [
        (1, 20, 20),
        (2, 20, 20),
        (3, 100, 100),
    ]
    assert client.event_info(e).seats == 140

    h = client.hold(e, user=1, best=2, section="balcony")
    assert h.seats == (20, 21)
    h = client.hold(e, user=2, best=3, tier=1)
    assert h.seats == (0, 1, 2)
    h = client.hold(e, user=3, best=8, any=True, section="stalls")
    assert h.seats == tuple(range(10, 18))
    with pytest.raises(HoldfastError) as err:
        client.hold(e, user=4, seats=[18], no_orphan=True)
    assert err.value.status == "ORPHAN_SEAT"
    g = client.hold(e, user=5, section="floor", quantity=4)
    assert g.seats == (40, 41, 42, 43)
    replay = client.hold(e, user=5, section="floor", quantity=4, id=g.id)
    assert replay.seats == g.seats

    es = client.event_sections(e)
    assert es.section("floor").free == 96
    assert es.section("stalls").free == 9
    info = client.seat_info(e, [40, 0, 39])
    assert [(s.state, s.owner_id, s.user_id) for s in info] == [
        ("held", g.id, 5),
        ("held", info[1].owner_id, 2),
        ("free", 0, 0),
    ]
    client.confirm(e, g.id)
    assert client.seat_info(e, [41])[0].state == "booked"


def test_bad_arguments(client: Client, new_event: NewEvent) -> None:
    e = new_event(0)
    client.create_event(e, seats=10, sections=[("a", 0, 10, 1)])
    with pytest.raises(ValueError, match="no section"):
        client.hold(e, user=1, best=2, section="nope")
    with pytest.raises(ValueError, match="quantity"):
        client.hold(e, user=1, quantity=2)
    with pytest.raises(ValueError, match="at most one"):
        client.hold(e, user=1, best=2, section="a", tier=1)
    with pytest.raises(ValueError, match="seats"):
        client.hold(e, user=1, seats=[1], any=True)
    with pytest.raises(ValueError, match="ga="):
        client.create_event(new_event(0), seats=10, ga=[("x", 5, 3, 4)])
    with pytest.raises(ValueError, match="name"):
        client.create_event(new_event(0), seats=10, sections=[("a" * 16, 0, 5)])
    with pytest.raises(HoldfastError) as err:
        client.create_event(new_event(0), seats=10, sections=[("a", 0, 5), ("a", 5, 5)])
    assert err.value.status == "INVALID"
    with pytest.raises(HoldfastError) as err:
        client.hold(e, user=1, best=2, tier=9)
    assert err.value.status == "INVALID"


def test_async_client(server: hfutil.Server, new_event: NewEvent) -> None:
    async def run() -> None:
        async with AsyncClient(server.addr(1)) as c:
            e = new_event(1)
            await c.create_event(e, seats=10, ga=[("pit", 50, 2)])
            h = await c.hold(e, user=9, section="pit", quantity=3)
            assert h.seats == (10, 11, 12)
            es = await c.event_sections(e)
            assert es.section("pit").free == 47
            info = await c.seat_info(e, [11])
            assert (info[0].state, info[0].user_id) == ("held", 9)

    asyncio.run(run())


def test_watch(client: Client, new_event: NewEvent) -> None:
    e = new_event(1)
    client.create_event(e, seats=10, ga=[("pit", 20, 1)])
    with client.watch(e) as w:
        assert w.seq == 0
        assert w.next(timeout=0.05) is None
        h = client.hold(e, user=3, seats=[1, 2])
        g = client.hold(e, user=4, section="pit", quantity=2)
        client.confirm(e, h.id)
        client.release(e, g.id)
        got = [w.next(timeout=5.0) for _ in range(4)]
        assert [(c.seq, c.kind, c.hold_id) for c in got if c is not None] == [
            (1, "held", h.id),
            (2, "held", g.id),
            (3, "booked", h.id),
            (4, "released", g.id),
        ]
        assert got[1] is not None and got[1].seats == (10, 11) and got[1].user_id == 4
    with pytest.raises(HoldfastError) as err:
        client.watch(new_event(0))
    assert err.value.status == "NO_EVENT"


def test_async_watch(server: hfutil.Server, new_event: NewEvent) -> None:
    async def run() -> None:
        async with AsyncClient(server.addr(0)) as c:
            e = new_event(0)
            await c.create_event(e, seats=10)
            w = await c.watch(e)
            await c.hold(e, user=1, seats=[3])
            ch = await w.next(timeout=5.0)
            assert ch is not None and (ch.seq, ch.kind, ch.seats) == (1, "held", (3,))
            assert await w.next(timeout=0.05) is None
            await w.close()

    asyncio.run(run())
