"""Goal: every operation of the blocking Client works against a real holdfastd with 2 shards:
answers and error details come back intact as values or as HoldfastError with the status name,
events on both shards are reached directly (no MOVED with a fresh map), replays with the same id
return the first answer, and a hold that expires turns later calls into HOLD_EXPIRED.

Method: the session's holdfastd (2 shards, durability none); each test makes fresh events with
new_event(shard) and walks the operations, checking values against EVENT_INFO and SEAT_STATUS."""

from __future__ import annotations

import time
from typing import Callable

import pytest

import hfutil
from holdfast import Booking, Client, Hold, HoldfastError, slot_of

NewEvent = Callable[..., int]


def refused(status: str, fn: Callable[[], object]) -> HoldfastError:
    with pytest.raises(HoldfastError) as e:
        fn()
    assert e.value.status == status, str(e.value)
    assert e.value.code is not None
    return e.value


def test_map_names_both_shards(client: Client, server: hfutil.Server) -> None:
    m = client.routing_map
    assert m.epoch >= 1
    assert [(o.host, o.port) for o in m.owners] == [
        ("127.0.0.1", server.port),
        ("127.0.0.1", server.port + 1),
    ]
    assert all(m.slot_owner[s] == s % 2 for s in range(4096))
    assert client.slot_map(shard=1).epoch == m.epoch
    assert client.ping() == m.epoch and client.ping(shard=1) == m.epoch
    with pytest.raises(ValueError, match="shard 2"):
        client.ping(shard=2)


@pytest.mark.parametrize("shard", [0, 1])
def test_every_operation(client: Client, new_event: NewEvent, shard: int) -> None:
    e = new_event(shard)
    before = client.stats(shard)
    client.create_event(e, seats=500, row_width=50, user_limit=6)
    client.create_event(e, seats=500, row_width=50, user_limit=6)  # same parameters: OK again
    refused("EVENT_EXISTS", lambda: client.create_event(e, seats=501, row_width=50, user_limit=6))

    info = client.event_info(e)
    assert (info.seats, info.row_width, info.user_limit, info.hold_lifetime) == (500, 50, 6, 1800)
    assert (info.free, info.held, info.booked, info.holds, info.bookings) == (500, 0, 0, 0, 0)

    h = client.hold(e, user=7, seats=[1, 2, 3], ttl=300)
    assert isinstance(h, Hold) and h.seats == (1, 2, 3) and h.event_id == e and h.id != 0
    assert 290 < h.expires_at - time.time() < 310
    again = client.hold(e, user=7, seats=[1, 2, 3], ttl=300, id=h.id)
    assert again.id == h.id and again.seats == h.seats
    refused("ID_CONFLICT", lambda: client.hold(e, user=7, seats=[1, 2], ttl=300, id=h.id))

    best = client.hold(e, user=8, best=4, id=99)
    assert best.id == 99 and best.seats == (4, 5, 6, 7)
    assert client.extend(e, 99, ttl=60) - time.time() == pytest.approx(60, abs=5)

    assert refused("SEAT_TAKEN", lambda: client.hold(e, user=9, seats=[10, 2], ttl=5)).detail == 2
    assert refused("SEAT_RANGE", lambda: client.hold(e, user=9, seats=[500], ttl=5)).detail == 500
    assert (
        refused("DUPLICATE_SEAT", lambda: client.hold(e, user=9, seats=[11, 11], ttl=5)).detail
        == 11
    )
    refused("INVALID", lambda: client.hold(e, user=9, best=51))
    assert (
        refused("USER_LIMIT", lambda: client.hold(e, user=7, seats=[20, 21, 22, 23], ttl=5)).detail
        == 3
    )

    b = client.confirm(e, h.id)
    assert isinstance(b, Booking) and b.id == h.id and b.seats == (1, 2, 3)
    assert client.confirm(e, h.id) == b  # replay: the same booking
    refused("HOLD_CONFIRMED", lambda: client.release(e, h.id))
    refused("HOLD_CONFIRMED", lambda: client.extend(e, h.id, ttl=5))

    a = client.avail(e, first=0, count=60)
    assert (a.free, a.held, a.booked, a.seats) == (493, 4, 3, 500)
    assert a.free_ranges == [range(0, 1), range(8, 60)]
    assert not a.is_free(5) and a.is_free(8) and a.range_free == 53
    assert client.avail(e).count == 0
    assert refused("SEAT_RANGE", lambda: client.avail(e, first=490, count=20)).detail == 500

    st = client.seat_status(e, [0, 1, 5, 1])
    assert [(s.seat, s.state, s.owner_id) for s in st] == [
        (0, "free", 0),
        (1, "booked", h.id),
        (5, "held", 99),
        (1, "booked", h.id),
    ]
    assert refused("SEAT_RANGE", lambda: client.seat_status(e, [3, 700])).detail == 700

    client.release(e, 99)
    client.release(e, 99)  # replay: OK, nothing changes
    refused("HOLD_RELEASED", lambda: client.confirm(e, 99))
    refused("HOLD_RELEASED", lambda: client.hold(e, user=8, best=4, id=99))
    refused("NO_HOLD", lambda: client.release(e, 12345))
    refused("NO_BOOKING", lambda: client.cancel(e, 99))

    client.cancel(e, h.id)
    client.cancel(e, h.id)
    refused("BOOKING_CANCELLED", lambda: client.confirm(e, h.id))
    info = client.event_info(e)
    assert (info.free, info.held, info.booked, info.holds, info.bookings) == (500, 0, 0, 0, 0)

    refused("NO_EVENT", lambda: client.event_info(new_event(shard)))
    after = client.stats(shard)
    assert after["shard_index"] == shard
    assert sum(after.values()) != sum(before.values())
    assert client.map_refreshes == 0, "a fresh map routes every event straight to its shard"


def test_hold_that_expires(client: Client, new_event: NewEvent) -> None:
    e = new_event()
    client.create_event(e, seats=10)
    h = client.hold(e, user=1, seats=[0], ttl=0.2)
    assert client.seat_status(e, [0])[0].state == "held"
    # Bounded wait for the deadline to pass (the server's clock decides).
    hfutil.wait_for(
        lambda: client.seat_status(e, [0])[0].state == "free", 10.0, "the held seat turns free"
    )
    refused("HOLD_EXPIRED", lambda: client.confirm(e, h.id))
    refused("HOLD_EXPIRED", lambda: client.extend(e, h.id, ttl=10))
    refused("HOLD_EXPIRED", lambda: client.hold(e, user=1, seats=[0], ttl=0.2, id=h.id))
    assert client.hold(e, user=2, seats=[0], ttl=5).seats == (0,)


def test_backup_without_data_is_refused(client: Client) -> None:
    # The session server runs with --durability none: it keeps no data, so BACKUP is INVALID.
    err = refused("INVALID", lambda: client.backup("/tmp/hf-python-backup-never"))
    assert err.opcode == "BACKUP"


def test_large_ids_stay_ints(client: Client, new_event: NewEvent) -> None:
    e = new_event()
    client.create_event(e, seats=4)
    top = 2**64 - 1
    h = client.hold(e, user=top, seats=[3], ttl=5, id=top)
    assert h.id == top and client.seat_status(e, [3])[0].owner_id == top
    assert slot_of(top) == 3873


def test_closed_client_refuses(server: hfutil.Server) -> None:
    with Client(server.addr(1)) as c:
        assert c.ping() >= 1
    with pytest.raises(HoldfastError) as e:
        c.ping()
    assert e.value.status == "CLOSED"


def test_client_shared_by_threads(client: Client, new_event: NewEvent) -> None:
    """Calls from several threads on one Client are serialized: every hold gets its own answer."""
    import threading

    e = new_event()
    client.create_event(e, seats=400)
    got: list = []
    lock = threading.Lock()

    def work(t: int) -> None:
        for i in range(50):
            h = client.hold(e, user=t, seats=[t * 100 + i], ttl=60)
            with lock:
                got.append((h.id, h.seats))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30.0)
        assert not t.is_alive()
    assert sorted(s for _, (s,) in got) == [t * 100 + i for t in range(4) for i in range(50)]
    assert client.event_info(e).holds == 200


def test_largest_replies(client: Client, server: hfutil.Server, new_event: NewEvent) -> None:
    """The largest AVAIL (1 Mi seats, a 128 KiB bitmap) and SEAT_STATUS (1024 seats) replies
    decode, blocking and asyncio; one past each limit is refused before sending."""
    import asyncio

    from holdfast import AsyncClient
    import holdfast._proto as p

    e = new_event()
    client.create_event(e, seats=p.AVAIL_RANGE_MAX + 10)
    client.hold(e, user=1, seats=[5, p.AVAIL_RANGE_MAX - 1], ttl=60)
    a = client.avail(e, first=0, count=p.AVAIL_RANGE_MAX)
    assert a.count == p.AVAIL_RANGE_MAX and len(a.bitmap) == p.AVAIL_RANGE_MAX // 8
    assert a.free_ranges == [range(0, 5), range(6, p.AVAIL_RANGE_MAX - 1)]
    st = client.seat_status(e, list(range(p.SEAT_STATUS_SEATS_MAX)))
    assert len(st) == p.SEAT_STATUS_SEATS_MAX and st[5].state == "held"
    with pytest.raises(ValueError):
        client.avail(e, first=0, count=p.AVAIL_RANGE_MAX + 1)
    with pytest.raises(ValueError):
        client.seat_status(e, list(range(p.SEAT_STATUS_SEATS_MAX + 1)))

    async def go() -> None:
        async with AsyncClient(server.addr(0)) as c:
            avs = await asyncio.gather(
                *(c.avail(e, first=0, count=p.AVAIL_RANGE_MAX) for _ in range(3))
            )
            assert all(x.free_ranges == a.free_ranges for x in avs)

    asyncio.run(go())


def test_event_rate_limit(client: Client, new_event: NewEvent) -> None:
    """An event created with user_rate limits each user's holds on it (RATE_LIMITED with the
    wait), another user is not limited, the rate is part of the event's identity (EVENT_EXISTS
    with another), and a bad rate is refused before anything is sent."""
    ev = new_event()
    client.create_event(ev, seats=100, user_rate=1, user_burst=2)
    client.create_event(ev, seats=100, user_rate=1, user_burst=2)  # idempotent
    refused("EVENT_EXISTS", lambda: client.create_event(ev, seats=100, user_rate=2, user_burst=2))
    client.hold(ev, 7, [0])
    client.hold(ev, 7, [1])
    e = refused("RATE_LIMITED", lambda: client.hold(ev, 7, [2]))
    assert e.detail is not None and e.detail >= 1
    client.hold(ev, 8, [3])
    with pytest.raises(ValueError):
        client.create_event(new_event(), seats=10, user_rate=2_000_000)
    # With sections too.
    ev2 = new_event()
    client.create_event(ev2, seats=10, sections=[("a", 0, 10)], user_rate=1)
    client.hold(ev2, 9, [0])
    refused("RATE_LIMITED", lambda: client.hold(ev2, 9, [1]))
