"""Goal: AsyncClient offers every operation of Client as a coroutine with the same answers and
errors, pipelines many requests per connection (matched by request id, bounded by pipeline_max),
and under contention grants each seat exactly once: 1,000 concurrent holds on one event, where
every seat is wanted by two of them (explicit seats) or where they race for best-available picks.

Method: the session's holdfastd (2 shards); asyncio.gather over many coroutines on one client;
the seats granted are checked against each other, against SEAT_STATUS and EVENT_INFO. Seat
choices are shuffled with the session seed (printed in the header; HF_SEED replays it)."""

from __future__ import annotations

import asyncio
import random
from typing import Callable, List

import pytest

import hfutil
from holdfast import AsyncClient, Hold, HoldfastError

NewEvent = Callable[..., int]

CONCURRENT_HOLDS = 1000


def run(coro: "asyncio.Future[object] | object") -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_every_operation_async(server: hfutil.Server, new_event: NewEvent) -> None:
    async def go() -> None:
        async with AsyncClient(server.addr(1)) as c:
            e = new_event(0)
            await c.create_event(e, seats=200, row_width=20, user_limit=4)
            info = await c.event_info(e)
            assert (info.seats, info.row_width, info.user_limit) == (200, 20, 4)
            h = await c.hold(e, user=1, seats=[3, 4], ttl=120)
            assert h.seats == (3, 4)
            assert (await c.hold(e, user=1, seats=[3, 4], ttl=120, id=h.id)).id == h.id
            b = await c.hold(e, user=2, best=3, ttl=120)
            assert b.seats == (0, 1, 2)
            with pytest.raises(HoldfastError) as err:
                await c.hold(e, user=3, seats=[4], ttl=5)
            assert (err.value.status, err.value.detail) == ("SEAT_TAKEN", 4)
            assert await c.extend(e, b.id, ttl=30) > 0
            assert (await c.confirm(e, h.id)).seats == (3, 4)
            await c.release(e, b.id)
            a = await c.avail(e, first=0, count=20)
            assert (a.free, a.held, a.booked) == (198, 0, 2)
            assert a.free_ranges == [range(0, 3), range(5, 20)]
            st = await c.seat_status(e, [3, 0])
            assert [(s.state, s.owner_id) for s in st] == [("booked", h.id), ("free", 0)]
            await c.cancel(e, h.id)
            with pytest.raises(HoldfastError) as err:
                await c.cancel(e, 555)
            assert err.value.status == "NO_BOOKING"
            assert (await c.event_info(e)).free == 200
            m = await c.slot_map()
            assert await c.ping() == m.epoch and await c.ping(shard=0) == m.epoch
            assert (await c.stats(shard=1))["shard_index"] == 1
            assert c.map_refreshes == 0

    run(go())


def test_lazy_map_and_closed_client(server: hfutil.Server, new_event: NewEvent) -> None:
    async def go() -> None:
        c = AsyncClient(server.addr(0))
        assert c.routing_map is None
        e = new_event()
        await c.create_event(e, seats=5)  # the first call fetches the map
        assert c.routing_map is not None
        await c.close()
        with pytest.raises(HoldfastError) as err:
            await c.ping()
        assert err.value.status == "CLOSED"

    run(go())


def test_thousand_concurrent_holds_grant_each_seat_once(
    server: hfutil.Server, new_event: NewEvent
) -> None:
    seats = CONCURRENT_HOLDS // 2
    wanted = [u % seats for u in range(CONCURRENT_HOLDS)]
    random.shuffle(wanted)

    async def go() -> List[object]:
        async with AsyncClient(server.addr(0), deadline=30.0) as c:
            e = new_event()
            await c.create_event(e, seats=seats)
            peak = [0]

            async def one(u: int) -> object:
                peak[0] = max(peak[0], c.in_flight)
                try:
                    return await c.hold(e, user=u, seats=[wanted[u]], ttl=300)
                except HoldfastError as err:
                    return err

            results = await asyncio.gather(*(one(u) for u in range(CONCURRENT_HOLDS)))
            assert peak[0] > 100, "requests were in flight together (pipelined)"
            holds = [r for r in results if isinstance(r, Hold)]
            errors = [r for r in results if isinstance(r, HoldfastError)]
            assert len(holds) == seats and len(errors) == seats
            assert {x.status for x in errors} == {"SEAT_TAKEN"}
            assert sorted(s for h in holds for s in h.seats) == list(range(seats))
            owners = {s.seat: s.owner_id for s in await c.seat_status(e, list(range(seats)))}
            assert owners == {h.seats[0]: h.id for h in holds}
            info = await c.event_info(e)
            assert (info.free, info.held, info.holds) == (0, seats, seats)
            return results

    run(go())


def test_thousand_concurrent_best_available_holds(
    server: hfutil.Server, new_event: NewEvent
) -> None:
    seats = 600

    async def go() -> None:
        async with AsyncClient(server.addr(0), deadline=30.0, pipeline_max=64) as c:
            e = new_event(1)
            await c.create_event(e, seats=seats, row_width=10)
            peak = [0]

            async def one(u: int) -> object:
                try:
                    return await c.hold(e, user=u, best=1 + u % 2, ttl=300)
                except HoldfastError as err:
                    return err
                finally:
                    peak[0] = max(peak[0], c.in_flight)

            results = await asyncio.gather(*(one(u) for u in range(CONCURRENT_HOLDS)))
            assert peak[0] <= 64, "pipeline_max bounds the requests in flight"
            holds = [r for r in results if isinstance(r, Hold)]
            taken = [s for h in holds for s in h.seats]
            assert len(taken) == len(set(taken)), "no seat granted twice"
            assert {r.status for r in results if isinstance(r, HoldfastError)} <= {"NOT_ENOUGH"}
            for h in holds:
                assert len({s // 10 for s in h.seats}) == 1, "adjacent seats of one row"
            info = await c.event_info(e)
            assert info.held == len(taken) and info.holds == len(holds)
            assert info.free < 2 * 60, "the event was all but sold out"

    run(go())
