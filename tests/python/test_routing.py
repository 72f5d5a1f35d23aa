"""Goal: a client whose map is stale still lands every request on the shard that owns its event:
the wrong shard answers MOVED with its epoch, the client fetches the map once for that epoch (not
once per request) and resends the same request, which succeeds exactly once. Also a first map
with one owner for a 2-shard node, served by a test server, is corrected by MOVED.

Method: the session's holdfastd (2 shards); force a map with epoch 0 that sends every slot to the
other shard (Client._force_map, the test hook libholdfast has too), then run operations on events
of both shards through Client and, concurrently, AsyncClient; count the map refreshes."""

from __future__ import annotations

import asyncio
from typing import Callable

import hfutil
import holdfast._proto as p
from holdfast import AsyncClient, Client, SlotMap, SlotOwner

NewEvent = Callable[..., int]


def swapped(m: SlotMap) -> SlotMap:
    """m with every slot given to the other of two owners, at epoch 0 (older than any real map)."""
    assert len(m.owners) == 2
    return SlotMap(epoch=0, owners=m.owners, slot_owner=tuple(1 - o for o in m.slot_owner))


def test_blocking_client_follows_moved(client: Client, new_event: NewEvent) -> None:
    real = client.routing_map
    events = [new_event(0), new_event(1), new_event(0), new_event(1)]
    client._force_map(swapped(real))
    for e in events:
        client.create_event(e, seats=20)
        h = client.hold(e, user=1, seats=[5], ttl=30)
        assert client.confirm(e, h.id).seats == (5,)
    assert client.routing_map.epoch == real.epoch
    assert client.map_refreshes == 1, "one map refresh for the one new epoch"
    for e in events:
        info = client.event_info(e)
        assert (info.booked, info.holds, info.bookings) == (1, 0, 1)


def test_async_client_follows_moved_once(server: hfutil.Server, new_event: NewEvent) -> None:
    async def run() -> None:
        async with AsyncClient(server.addr(0), timeout=5.0, deadline=20.0) as c:
            real = c.routing_map
            assert real is not None
            events = [new_event(i % 2) for i in range(20)]
            await asyncio.gather(*(c.create_event(e, seats=100) for e in events))
            c._force_map(swapped(real))
            holds = await asyncio.gather(
                *(c.hold(e, user=u, seats=[u], ttl=30) for e in events for u in range(10))
            )
            assert len(holds) == 200
            assert c.map_refreshes == 1, "200 MOVED answers, one refresh"
            infos = await asyncio.gather(*(c.event_info(e) for e in events))
            assert all(i.held == 10 and i.holds == 10 for i in infos)

    asyncio.run(run())


def test_first_map_from_a_test_server_is_corrected(
    server: hfutil.Server, new_event: NewEvent
) -> None:
    """A test shard hands out a first map (epoch 1) that gives it every slot, answers store
    operations with MOVED naming epoch 2, and then serves an epoch-2 map naming the real shards:
    the client refreshes from the shard that answered MOVED, once, and reaches the real owner."""
    maps_served = []
    real = [("127.0.0.1", server.port), ("127.0.0.1", server.port + 1)]

    def handler(req: hfutil.Request) -> bytes | None:
        if req.opcode == p.OP_SLOT_MAP:
            maps_served.append(req.request_id)
            if len(maps_served) == 1:
                body = hfutil.slot_map_body(1, [("127.0.0.1", fake.port)], [0] * 4096)
            else:
                body = hfutil.slot_map_body(2, real)
            return hfutil.reply_frame(p.OP_SLOT_MAP, req.request_id, 0, body)
        return hfutil.error_frame(req.opcode, req.request_id, p.MOVED, 2)

    fake = hfutil.FakeShard(handler)
    try:
        with Client(fake.addr, timeout=2.0, deadline=10.0) as c:
            assert c.routing_map.epoch == 1
            e0, e1 = new_event(0), new_event(1)
            c.create_event(e0, seats=10)
            c.create_event(e1, seats=10)
            assert c.hold(e1, user=1, seats=[9], ttl=30).seats == (9,)
            assert c.routing_map.epoch == 2
            assert c.map_refreshes == 1
            assert len(maps_served) == 2
            store_ops = [r for r in fake.requests if r.opcode != p.OP_SLOT_MAP]
            assert len(store_ops) == 1, "only the first request went to the test shard"
    finally:
        fake.stop()
