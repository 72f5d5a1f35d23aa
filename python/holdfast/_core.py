"""What the blocking and the asyncio client share: options and their bounds, address parsing, one
description per operation (opcode, routing key, encoded body, reply decoder), the slot-map router
and the retry policy.

The clients differ only in how they wait (sockets with timeouts, or asyncio); every decision about
where a request goes and whether it is resent is made here, once.
"""

from __future__ import annotations

import os
import random
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, List, Optional, Sequence, Tuple, TypeVar

from . import _proto as p
from .errors import HoldfastError, HoldfastTimeout, HoldfastUnavailable, ProtocolError
from .types import Booking, EventInfo, Hold, RoomInfo, RoomPosition, SeatStatus, SlotMap, SlotOwner

T = TypeVar("T")

# ---- Bounds ----

# Tombstones (docs/protocol.md 8.6) are kept 10 minutes by default: a resend later than that could
# create a second hold, so no call may keep resending longer.
DEADLINE_MAX_S = 600.0
# Attempts of one call, whatever their cause: the loop bound behind the deadline.
ATTEMPTS_MAX = 1000
# Resends after a timeout, a broken connection or an undecodable reply (libholdfast's retries_max).
RETRIES_MAX = 1000
# Requests in flight per AsyncClient (libholdfast's HF_CLIENT_PIPELINE_MAX).
PIPELINE_MAX = 65536
# Backoff before resending after BUSY / TRY_AGAIN / a MOVED from a shard whose map is behind ours:
# base * 2**attempt, capped, times a random factor in [0.5, 1) so that clients spread out.
BACKOFF_BUSY_S = 0.001
BACKOFF_BUSY_S_MAX = 0.1
# The same after a refused or failed connect.
BACKOFF_CONNECT_S = 0.01
BACKOFF_CONNECT_S_MAX = 1.0
# Default ttl of a hold when none is given: the longest, which the engine clamps to the event's
# hold lifetime (the CLI does the same).
TTL_DEFAULT_S = float(p.HOLD_LIFETIME_MAX_S)


@dataclass(frozen=True)
class Options:
    """Client settings, in seconds.

    timeout: one attempt's wait for its reply; deadline: a whole call, resends and backoffs
    included; connect_timeout: one connect; retries: resends after a timeout, a broken connection
    or a reply that did not decode (BUSY, TRY_AGAIN and MOVED resend until the deadline);
    pipeline_max: AsyncClient requests in flight (more wait for a free place).
    """

    timeout: float = 2.0
    deadline: float = 10.0
    connect_timeout: float = 2.0
    retries: int = 5
    pipeline_max: int = 1024
    # For a holdfastd with --auth-file: every connection presents it first (AUTH).
    token: Optional[str] = None

    def check(self) -> "Options":
        if self.token is not None and (
            not isinstance(self.token, str)
            or not 1 <= len(self.token.encode("utf-8")) <= 256
            or any(ch.isspace() for ch in self.token)
        ):
            raise ValueError("token must be 1..256 bytes without white space")
        for name in ("timeout", "deadline", "connect_timeout"):
            v = getattr(self, name)
            if (
                isinstance(v, bool)
                or not isinstance(v, (int, float))
                or not 0 < v <= DEADLINE_MAX_S
            ):
                raise ValueError("%s %r is not in (0, %g] seconds" % (name, v, DEADLINE_MAX_S))
        if (
            isinstance(self.retries, bool)
            or not isinstance(self.retries, int)
            or not 0 <= self.retries <= RETRIES_MAX
        ):
            raise ValueError("retries %r is not in 0 .. %d" % (self.retries, RETRIES_MAX))
        if (
            isinstance(self.pipeline_max, bool)
            or not isinstance(self.pipeline_max, int)
            or not 1 <= self.pipeline_max <= PIPELINE_MAX
        ):
            raise ValueError(
                "pipeline_max %r is not in 1 .. %d" % (self.pipeline_max, PIPELINE_MAX)
            )
        return self


def parse_addr(host_port: str) -> Tuple[str, int]:
    """ "127.0.0.1:7070", "[::1]:7070", "localhost:7070" -> (host, port)."""
    if not isinstance(host_port, str):
        raise TypeError("address must be a str 'HOST:PORT'")
    if host_port.startswith("["):
        end = host_port.find("]")
        if end < 0 or host_port[end + 1 : end + 2] != ":":
            raise ValueError("address %r is not [HOST]:PORT" % host_port)
        host, port_s = host_port[1:end], host_port[end + 2 :]
    else:
        host, sep, port_s = host_port.rpartition(":")
        if not sep or ":" in host:
            raise ValueError("address %r is not HOST:PORT (IPv6 hosts go in brackets)" % host_port)
    if not 1 <= len(host.encode()) <= p.HOST_SIZE_MAX:
        raise ValueError("address %r: host must have 1 .. %d bytes" % (host_port, p.HOST_SIZE_MAX))
    if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
        raise ValueError("address %r: port must be 1 .. 65535" % host_port)
    return host, int(port_s)


class _Ids:
    """Hold ids: a generator seeded from the system's random source, reseeded in a forked child
    (parent and child must never draw the same ids). Not for secrets: ids need to be unique, not
    unpredictable, and os.urandom per id would cost a system call on the hot path."""

    def __init__(self) -> None:
        self.rng = random.Random(secrets.randbits(128))
        os.register_at_fork(after_in_child=self.reseed)

    def reseed(self) -> None:
        self.rng = random.Random(secrets.randbits(128))

    def next(self) -> int:
        # Bounded: 0 comes out once in 2**64 draws.
        for _ in range(16):
            v = self.rng.getrandbits(64)
            if v != 0:
                return v
        raise RuntimeError("the id generator returned 0 sixteen times")


_ids = _Ids()


def new_id() -> int:
    """A fresh random 64-bit id, never 0: use one per hold and keep it to resend safely."""
    return _ids.next()


# ---- Operations ----


class Request(Generic[T]):
    """One operation: its opcode, its routing (event_id for store ops, else shard: an owner index
    or None for the home address), its body, and the decoder of its success reply. A plain class
    with slots: one is made per call, on the hot path."""

    __slots__ = ("opcode", "event_id", "body", "decode", "shard")

    def __init__(
        self,
        opcode: int,
        event_id: int,
        body: bytes,
        decode: Callable[[bytes], T],
        shard: Optional[int] = None,
    ) -> None:
        self.opcode = opcode
        self.event_id = event_id
        self.body = body
        self.decode = decode
        self.shard = shard

    @property
    def name(self) -> str:
        return p.OPCODE_NAMES.get(self.opcode, "0x%02x" % self.opcode)


def _none(what: str) -> Callable[[bytes], None]:
    return lambda body: p.decode_empty(what, body)


def req_create_event(
    event_id: int, seats: int, row_width: int = 0, user_limit: int = 0, hold_lifetime: int = 0
) -> Request[None]:
    body = p.body_create_event(event_id, seats, row_width, user_limit, hold_lifetime)
    return Request(p.OP_CREATE_EVENT, event_id, body, _none("CREATE_EVENT"))


def req_event_info(event_id: int) -> Request[EventInfo]:
    return Request(p.OP_EVENT_INFO, event_id, p.body_event(event_id), p.decode_event_info)


def req_hold(
    event_id: int,
    user: int,
    seats: Optional[Sequence[int]],
    best: Optional[int],
    ttl: float,
    hold_id: Optional[int],
) -> Request[Hold]:
    hid = new_id() if hold_id is None else hold_id
    body = p.body_hold(event_id, hid, user, p.ttl_to_ms(ttl), seats, best)
    return Request(p.OP_HOLD, event_id, body, lambda b: p.decode_hold(b, event_id))


def req_hold_token(
    event_id: int,
    user: int,
    seats: Optional[Sequence[int]],
    best: Optional[int],
    ttl: float,
    hold_id: Optional[int],
    token: Optional[bytes],
) -> Request[Hold]:
    """HOLD, with the waiting room's admission token when one is given."""
    r = req_hold(event_id, user, seats, best, ttl, hold_id)
    if token is not None:
        r.body = p.body_hold_token(r.body, token)
    return r


def req_join(opcode: int, event_id: int, user: int) -> Request[RoomPosition]:
    body = p.body_join(event_id, user)
    return Request(opcode, event_id, body, lambda b: p.decode_room_position(b, event_id, user))


@dataclass(frozen=True)
class RoomParams:
    """A waiting room's parameters, as room_set takes them (defaults: a new room's)."""

    shoppers_per_seat: float = 1.0
    admit_ttl: float = 300.0
    policy: str = "requeue"
    queue_max: int = 100000

    @staticmethod
    def of(info: RoomInfo) -> "RoomParams":
        return RoomParams(info.shoppers_per_seat, info.admit_ttl, info.policy, info.queue_max)

    def merged(
        self,
        shoppers_per_seat: Optional[float],
        admit_ttl: Optional[float],
        policy: Optional[str],
        queue_max: Optional[int],
    ) -> "RoomParams":
        return RoomParams(
            self.shoppers_per_seat if shoppers_per_seat is None else shoppers_per_seat,
            self.admit_ttl if admit_ttl is None else admit_ttl,
            self.policy if policy is None else policy,
            self.queue_max if queue_max is None else queue_max,
        )


def req_room_set(
    event_id: int,
    enabled: bool,
    shoppers_per_seat: float,
    admit_ttl: float,
    policy: str,
    queue_max: int,
) -> Request[None]:
    if policy not in ("requeue", "drop"):
        raise ValueError("policy must be 'requeue' or 'drop'")
    pct = int(round(shoppers_per_seat * 100))
    ttl_ms = int(round(admit_ttl * 1000))
    body = p.body_room_set(event_id, enabled, 1 if policy == "drop" else 0, pct, ttl_ms, queue_max)
    return Request(p.OP_ROOM_SET, event_id, body, _none("ROOM_SET"))


def req_room_info(event_id: int) -> Request[RoomInfo]:
    return Request(
        p.OP_ROOM_INFO, event_id, p.body_event(event_id), lambda b: p.decode_room_info(b, event_id)
    )


def req_extend(event_id: int, hold_id: int, ttl: float) -> Request[float]:
    body = p.body_extend(event_id, hold_id, p.ttl_to_ms(ttl))
    return Request(p.OP_EXTEND, event_id, body, lambda b: p.decode_extend(b) / 1000.0)


def req_confirm(event_id: int, hold_id: int) -> Request[Booking]:
    body = p.body_hold_ref(event_id, hold_id)
    return Request(p.OP_CONFIRM, event_id, body, lambda b: p.decode_confirm(b, event_id))


def req_release(event_id: int, hold_id: int) -> Request[None]:
    return Request(p.OP_RELEASE, event_id, p.body_hold_ref(event_id, hold_id), _none("RELEASE"))


def req_cancel(event_id: int, booking_id: int) -> Request[None]:
    return Request(p.OP_CANCEL, event_id, p.body_hold_ref(event_id, booking_id), _none("CANCEL"))


def req_avail_range(event_id: int, first: int, count: int) -> Request[p.AvailRange]:
    return Request(p.OP_AVAIL, event_id, p.body_avail(event_id, first, count), p.decode_avail)


def req_seat_status(event_id: int, seats: Sequence[int]) -> Request[List[SeatStatus]]:
    seat_list = list(seats)
    body = p.body_seat_status(event_id, seat_list)
    n = len(seat_list)
    return Request(p.OP_SEAT_STATUS, event_id, body, lambda b: p.decode_seat_status(b, n))


def req_ping(shard: Optional[int]) -> Request[int]:
    return Request(p.OP_PING, 0, b"", p.decode_ping, shard)


def req_slot_map(shard: Optional[int]) -> Request[SlotMap]:
    return Request(p.OP_SLOT_MAP, 0, b"", p.decode_slot_map, shard)


def req_stats(shard: Optional[int]) -> Request[Dict[str, int]]:
    return Request(p.OP_STATS, 0, b"", p.decode_stats, shard)


def req_backup(path: str, shard: int) -> Request[int]:
    return Request(p.OP_BACKUP, 0, p.body_backup(path), p.decode_backup, shard)


def check_avail_args(first: int, count: int) -> None:
    p.body_avail(1, first, count)


# ---- Routing ----


class Router:
    """The slot map a client routes by, and the MOVED rule: one map refresh per new epoch.

    INVARIANTS
     1. refreshed_epoch is the highest MOVED epoch a refresh was made for; no second refresh is
        made for an epoch at or below it.
     2. map.epoch never decreases, except through force_map (a test hook).
    """

    def __init__(self, home: Tuple[str, int]) -> None:
        self.home = home
        self.map: Optional[SlotMap] = None
        self.refreshed_epoch = 0
        self.refreshes = 0

    def install(self, m: SlotMap) -> bool:
        """Adopts m when it is newer than the current map; True when it did."""
        if self.map is not None and m.epoch <= self.map.epoch:
            return False
        self.map = m
        return True

    def force(self, m: SlotMap) -> None:
        self.map = m

    def address(self, req: "Request[Any]") -> Tuple[str, int]:
        """The (host, port) a request goes to now."""
        if req.opcode in p.ROUTED_OPCODES:
            assert self.map is not None, "store operations route by a loaded map"
            o = self.map.owners[self.map.slot_owner[p.slot_of(req.event_id)]]
            return (o.host, o.port)
        if req.shard is None:
            return self.home
        return self.owner(req.shard)

    def owner(self, index: int) -> Tuple[str, int]:
        assert self.map is not None
        if not 0 <= index < len(self.map.owners):
            raise ValueError(
                "shard %d is not in the slot map (0 .. %d)" % (index, len(self.map.owners) - 1)
            )
        o = self.map.owners[index]
        return (o.host, o.port)

    def needs_refresh(self, moved_epoch: int) -> bool:
        """After MOVED naming moved_epoch: whether to fetch the map (else back off and resend)."""
        assert self.map is not None
        return moved_epoch > self.map.epoch and moved_epoch > self.refreshed_epoch

    def refresh_sources(self, moved_from: Tuple[str, int]) -> List[Tuple[str, int]]:
        """Where to fetch a newer map: the shard that answered MOVED, the home address, the
        others."""
        out = [moved_from, self.home]
        if self.map is not None:
            out += [(o.host, o.port) for o in self.map.owners]
        seen: List[Tuple[str, int]] = []
        for a in out:
            if a not in seen:
                seen.append(a)
        return seen[: p.SLOT_OWNERS_MAX + 2]


# ---- Retries ----


def backoff_s(attempt: int, base_s: float, max_s: float) -> float:
    v = min(max_s, base_s * (1 << min(attempt, 16)))
    return v * (0.5 + 0.5 * random.random())


class Attempts:
    """The budget of one call: a deadline, a number of resends after transport failures, and the
    last failure, which becomes the exception when the budget runs out."""

    def __init__(self, opts: Options, req: "Request[Any]") -> None:
        self.opts = opts
        self.req = req
        self.start = time.monotonic()
        self.deadline = self.start + opts.deadline
        self.count = 0
        self.transport_failures = 0
        self.last: Optional[HoldfastError] = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def next(self) -> bool:
        """Whether one more attempt may start."""
        if self.count >= ATTEMPTS_MAX or self.remaining() <= 0:
            return False
        if self.transport_failures > self.opts.retries:
            return False
        self.count += 1
        return True

    def attempt_timeout(self) -> float:
        return max(0.0, min(self.opts.timeout, self.remaining()))

    def connect_timeout(self) -> float:
        return max(0.0, min(self.opts.connect_timeout, self.remaining()))

    def transport_failed(self, err: HoldfastError) -> None:
        self.transport_failures += 1
        self.last = err

    def answered_retry(self, err: HoldfastError) -> None:
        self.last = err

    def sleep_for(self, base_s: float, max_s: float) -> float:
        return max(0.0, min(backoff_s(self.count, base_s, max_s), self.remaining()))

    def failure(self) -> HoldfastError:
        """The exception for a call whose budget ran out."""
        elapsed = time.monotonic() - self.start
        last = self.last
        if last is None:
            return HoldfastTimeout("no attempt could start within the deadline", self.req.name)
        # A copy: one failure (a connection that broke) may be the last of many requests.
        err = type(last).__new__(type(last))
        err.__dict__.update(last.__dict__)
        err.message = "%s (%s, %d attempts in %.3f s)" % (
            last.message,
            self.req.name,
            self.count,
            elapsed,
        )
        err.args = ("%s: %s" % (err.status, err.message),)
        err.opcode = last.opcode or self.req.name
        return err


def answer(req: "Request[T]", status: int, body: bytes) -> T:
    """The result of a reply that is final (not resent): the decoded body, or HoldfastError."""
    if status == p.OK:
        return req.decode(body)
    detail = p.decode_error_detail(body)
    raise status_error(req, status, detail)


def status_error(req: "Request[Any]", status: int, detail: int) -> HoldfastError:
    msg = p.status_message(status)
    if detail:
        msg = "%s (detail %d)" % (msg, detail)
    return HoldfastError(p.status_name(status), msg, code=status, detail=detail, opcode=req.name)


def owner_str(addr: Tuple[str, int]) -> str:
    return str(SlotOwner(addr[0], addr[1]))
