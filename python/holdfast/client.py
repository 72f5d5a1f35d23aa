"""The blocking holdfast client: one TCP connection per shard it talks to, one request at a time.

Client(addr) connects to any shard of any node, fetches the slot map, and sends each operation to
the shard that owns its event (slot = fmix64(event_id) % 4096). It follows MOVED with one map
refresh per new epoch, backs off and resends on BUSY and TRY_AGAIN until the call's deadline, and
resends the same frame (same ids, so never a double hold) after a timeout, a broken connection or a
reply that did not decode, up to Options.retries times. A Client may be shared by threads: calls
are serialized by a lock. For many requests in flight use AsyncClient.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, TypeVar

from . import _core as core
from . import _inventory as inv
from . import _proto as p
from .errors import HoldfastError, HoldfastTimeout, HoldfastUnavailable, ProtocolError
from .types import (
    Avail,
    Booking,
    EventInfo,
    EventSections,
    Hold,
    RoomInfo,
    RoomPosition,
    SeatInfo,
    SeatStatus,
    SlotMap,
)
from .watch import Watch


def _none(body: bytes) -> None:
    return None


T = TypeVar("T")

Addr = Tuple[str, int]


class _Conn:
    """One blocking connection to one shard. Owned by its Client; closed on any failure."""

    def __init__(self, addr: Addr, timeout_s: float) -> None:
        self.addr = addr
        try:
            self.sock = socket.create_connection(addr, timeout=timeout_s)
        except OSError as e:
            raise HoldfastUnavailable("cannot connect to %s: %s" % (core.owner_str(addr), e)) from e
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, size: int, deadline: float) -> None:
        """Reads until the buffer holds size bytes, before deadline (monotonic)."""
        # Bounded by the deadline and by size: every pass reads bytes or raises.
        while len(self.buf) < size:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            chunk = self.sock.recv(max(65536, size - len(self.buf)))
            if not chunk:
                raise ConnectionResetError(
                    "connection closed by %s after %d of %d bytes of a reply"
                    % (core.owner_str(self.addr), len(self.buf), size)
                )
            self.buf += chunk

    def roundtrip(
        self, frame: bytes, request_id: int, opcode: int, timeout_s: float
    ) -> Tuple[int, bytes]:
        """Sends frame and returns (status, body) of its reply."""
        deadline = time.monotonic() + timeout_s
        self.sock.settimeout(timeout_s)
        self.sock.sendall(frame)
        self._fill(p.FRAME_HEADER_SIZE, deadline)
        h = p.decode_reply_header(self.buf)
        if h.request_id != request_id:
            raise ProtocolError("reply for request id %d, expected %d" % (h.request_id, request_id))
        if h.opcode != opcode:
            raise ProtocolError(
                "reply with opcode 0x%02x to a request with opcode 0x%02x" % (h.opcode, opcode)
            )
        size = p.FRAME_HEADER_SIZE + h.body_size
        self._fill(size, deadline)
        body = bytes(self.buf[p.FRAME_HEADER_SIZE : size])
        del self.buf[:size]
        return h.status, body


class Client:
    """A blocking client. Example:

        c = Client("127.0.0.1:7070")
        h = c.hold(42, user=7, seats=[1, 2, 3], ttl=300)
        c.confirm(42, h.id)

    Every method raises HoldfastError (with .status, "SEAT_TAKEN", "TIMEOUT", ...) when it does not
    succeed. timeout, deadline, connect_timeout, retries: see Options.
    """

    def __init__(
        self, addr: str = "127.0.0.1:7070", *, options: Optional[core.Options] = None, **kw: Any
    ) -> None:
        opts = options if options is not None else core.Options(**kw)
        if options is not None and kw:
            raise TypeError("give either options= or keyword settings, not both")
        self.options = opts.check()
        self._router = core.Router(core.parse_addr(addr))
        self._conns: Dict[Addr, _Conn] = {}
        self._lock = threading.Lock()
        self._request_id = 0
        self._closed = False
        m = self._call(core.req_slot_map(None))
        self._router.install(m)

    # ---- lifecycle ----

    def close(self) -> None:
        """Closes every connection; the client cannot be used afterwards."""
        with self._lock:
            self._closed = True
            for c in self._conns.values():
                c.close()
            self._conns.clear()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ---- operations ----

    def create_event(
        self,
        event_id: int,
        seats: int,
        row_width: int = 0,
        user_limit: int = 0,
        hold_lifetime: int = 0,
        *,
        sections: Sequence[Any] = (),
        ga: Sequence[Any] = (),
        user_rate: int = 0,
        user_burst: int = 0,
    ) -> None:
        """Creates an event (idempotent with the same parameters; else EVENT_EXISTS).
        hold_lifetime: seconds, 0 = the server's default. sections: Section objects or tuples
        (name, first, count[, tier[, row_width]]) over the numbered seats; ga: general admission
        areas (name, capacity[, tier]), placed after the `seats` numbered seats (the event then
        has seats + capacities places). user_rate: HOLDs per second one user may send for this event
        (bursts of user_burst, 0 = user_rate); 0 = the server's --user-rate applies."""
        if not sections and not ga:
            r = core.req_create_event(event_id, seats, row_width, user_limit, hold_lifetime)
        else:
            r = inv.req_create_event(
                event_id, seats, row_width, user_limit, hold_lifetime, sections, ga
            )
        if user_rate or user_burst:
            r.body = p.body_create_event_rate(r.body, user_rate, user_burst)
        self._call(r)

    def event_info(self, event_id: int) -> EventInfo:
        return self._call(core.req_event_info(event_id))

    def hold(
        self,
        event_id: int,
        user: int,
        seats: Optional[Sequence[int]] = None,
        *,
        best: Optional[int] = None,
        ttl: float = core.TTL_DEFAULT_S,
        id: Optional[int] = None,
        token: Optional[bytes] = None,
        section: Optional[str] = None,
        tier: Optional[int] = None,
        any: bool = False,
        no_orphan: bool = False,
        quantity: Optional[int] = None,
    ) -> Hold:
        """Holds the listed seats, or the best N adjacent ones (best=N), for ttl seconds (clamped to
        the event's hold lifetime). id: the hold id (the idempotency key); a random one when None.
        Resending with the same id is safe and returns the first answer.
        best=N within section="name" or tier=T; any=True: N free seats, adjacent or not, in as
        few rows as possible; no_orphan=True: refuse a pick that leaves a lone free seat in a row;
        quantity=N with section="name": N places of a general admission section. token: the
        admission token of a waiting-room event (RoomPosition.token), else NOT_ADMITTED there."""
        if section is None and tier is None and not any and not no_orphan and quantity is None:
            return self._call(core.req_hold_token(event_id, user, seats, best, ttl, id, token))
        mode, flags, count = inv.hold_shape(seats, best, quantity, section, tier, any, no_orphan)
        scope = tier if tier is not None else 0
        if section is not None:
            try:
                scope = self.event_sections(event_id).scope_of(section)
            except KeyError:
                raise ValueError("event %d has no section %r" % (event_id, section)) from None
        r = inv.req_hold(event_id, user, ttl, id, mode, flags, scope, count, seats or ())
        if token is not None:
            r.body = p.body_hold_token(r.body, token)
        return self._call(r)

    # ---- the waiting room (docs/protocol.md 6.13) ----

    def join(self, event_id: int, user: int) -> RoomPosition:
        """Takes a place in the event's waiting room (or returns the user's existing one). Once
        .admitted, pass .token to hold(..., token=...). SOLD_OUT: nothing left to wait for."""
        return self._call(core.req_join(p.OP_JOIN, event_id, user))

    def position(self, event_id: int, user: int) -> RoomPosition:
        """The user's place, wait estimate, and token once admitted (poll it while waiting)."""
        return self._call(core.req_join(p.OP_POSITION, event_id, user))

    def room_set(
        self,
        event_id: int,
        enabled: bool = True,
        *,
        shoppers_per_seat: Optional[float] = None,
        admit_ttl: Optional[float] = None,
        policy: Optional[str] = None,
        queue_max: Optional[int] = None,
    ) -> None:
        """Turns the event's waiting room on or off and sets its parameters (an admin's with
        tokens). admit_ttl: seconds; policy: "requeue" or "drop". A parameter left None keeps
        the room's current value (a new room: 1.0 shopper per seat, 300 s, "requeue", 100000
        places; queue_max is fixed once set)."""
        cur = core.RoomParams()
        if None in (shoppers_per_seat, admit_ttl, policy, queue_max):
            try:
                cur = core.RoomParams.of(self.room_info(event_id))
            except HoldfastError as e:
                if e.status != "NO_ROOM":
                    raise
        p_ = cur.merged(shoppers_per_seat, admit_ttl, policy, queue_max)
        self._call(
            core.req_room_set(
                event_id, enabled, p_.shoppers_per_seat, p_.admit_ttl, p_.policy, p_.queue_max
            )
        )

    def room_info(self, event_id: int) -> RoomInfo:
        return self._call(core.req_room_info(event_id))

    def watch(self, event_id: int, timeout: Optional[float] = None) -> "Watch":
        """Watches the event's seat changes on a connection of its own (holdfast.watch.Watch):
        w.seq is the last change before the watch; w.next(timeout) the next WatchChange. MOVED
        refreshes the map and tries again once. timeout: of the connect and the answer
        (default: the client's timeout)."""
        t = self.options.timeout if timeout is None else timeout
        for attempt in range(2):
            with self._lock:
                addr = self._router.address(core.Request(p.OP_WATCH, event_id, b"", _none))
            try:
                return Watch(addr, event_id, self.options.token, t)
            except HoldfastError as e:
                if e.status != "MOVED" or attempt == 1:
                    raise
                self.slot_map()
        raise AssertionError("unreachable")

    def event_sections(self, event_id: int) -> EventSections:
        """The event's sections and tiers with their free counts (EVENT_SECTIONS)."""
        return self._call(inv.req_event_sections(event_id))

    def seat_info(self, event_id: int, seats: Sequence[int]) -> List[SeatInfo]:
        """Each listed seat's state, owner id and the owner's user (SEAT_INFO), in order."""
        return self._call(inv.req_seat_info(event_id, seats))

    def extend(self, event_id: int, hold_id: int, ttl: float) -> float:
        """Moves a live hold's deadline to now + ttl (capped); returns the new expiry (Unix
        seconds)."""
        return self._call(core.req_extend(event_id, hold_id, ttl))

    def confirm(self, event_id: int, hold_id: int) -> Booking:
        return self._call(core.req_confirm(event_id, hold_id))

    def release(self, event_id: int, hold_id: int) -> None:
        self._call(core.req_release(event_id, hold_id))

    def cancel(self, event_id: int, booking_id: int) -> None:
        self._call(core.req_cancel(event_id, booking_id))

    def avail(self, event_id: int, first: int = 0, count: int = 0) -> Avail:
        """Seat counts (free, held, booked) and, with count > 0, which seats of
        first .. first + count - 1 are free (Avail.free_ranges, Avail.is_free)."""
        core.check_avail_args(first, count)
        info = self._call(core.req_event_info(event_id))
        if count == 0:
            return Avail(event_id, info.seats, info.free, info.held, info.booked)
        r = self._call(core.req_avail_range(event_id, first, count))
        return Avail(
            event_id, info.seats, info.free, info.held, info.booked, r.first, r.count, r.bitmap
        )

    def seat_status(self, event_id: int, seats: Sequence[int]) -> List[SeatStatus]:
        """The state (free / held / booked) and owner id of each listed seat, in order."""
        return self._call(core.req_seat_status(event_id, seats))

    def stats(self, shard: Optional[int] = None) -> Dict[str, int]:
        """The counters of one shard: the home address's, or owner `shard` of the slot map."""
        return self._call(core.req_stats(shard))

    def ping(self, shard: Optional[int] = None) -> int:
        """Round trip to a shard; returns its slot map epoch."""
        return self._call(core.req_ping(shard))

    def slot_map(self, shard: Optional[int] = None) -> SlotMap:
        """Fetches the slot map from a shard (and routes by it from now on when it is newer)."""
        m = self._call(core.req_slot_map(shard))
        with self._lock:
            self._router.install(m)
        return m

    def backup(self, path: str) -> List[int]:
        """Checkpoints every shard of the map into path/shard-<i> (an absolute path on the server's
        machine); returns each shard's sequence number."""
        assert self._router.map is not None
        return [self._call(core.req_backup(path, i)) for i in range(len(self._router.map.owners))]

    @staticmethod
    def new_id() -> int:
        return core.new_id()

    @property
    def routing_map(self) -> SlotMap:
        """The map the client routes by now."""
        assert self._router.map is not None
        return self._router.map

    @property
    def map_refreshes(self) -> int:
        """Slot map fetches made because of MOVED (one per new epoch)."""
        return self._router.refreshes

    def _force_map(self, m: SlotMap) -> None:
        """Test hook: route by m as it is, even when it is older (a stale client)."""
        with self._lock:
            self._router.force(m)

    # ---- the engine ----

    def _conn(self, addr: Addr, timeout_s: float) -> _Conn:
        c = self._conns.get(addr)
        if c is None:
            c = _Conn(addr, timeout_s)
            if self.options.token is not None:
                self._authenticate(c, timeout_s)
            self._conns[addr] = c
        return c

    def _authenticate(self, c: _Conn, timeout_s: float) -> None:
        """A new connection presents the token first; a refusal is final (no resend)."""
        assert self.options.token is not None
        rid = self._next_request_id()
        frame = p.encode_frame(p.OP_AUTH, rid, p.body_auth(self.options.token))
        try:
            status, _ = c.roundtrip(frame, rid, p.OP_AUTH, timeout_s)
        except BaseException:
            c.close()
            raise
        if status != 0:
            c.close()
            raise HoldfastError(
                p.status_name(status), "the server refused the token", code=status, opcode="AUTH"
            )

    def _drop(self, addr: Addr) -> None:
        c = self._conns.pop(addr, None)
        if c is not None:
            c.close()

    def _next_request_id(self) -> int:
        self._request_id = (self._request_id + 1) & p.U64_MAX
        return self._request_id

    def _call(self, req: core.Request[T]) -> T:
        with self._lock:
            if self._closed:
                raise HoldfastError("CLOSED", "the client is closed", opcode=req.name)
            return self._call_locked(req)

    def _attempt(
        self, att: core.Attempts, addr: Addr, frame: bytes, rid: int
    ) -> Optional[Tuple[int, bytes]]:
        """One send and wait. Returns (status, body), or None after a transport failure (recorded
        in att; the connection is dropped)."""
        try:
            conn = self._conn(addr, att.connect_timeout())
        except HoldfastUnavailable as e:
            att.transport_failed(e)
            time.sleep(att.sleep_for(core.BACKOFF_CONNECT_S, core.BACKOFF_CONNECT_S_MAX))
            return None
        try:
            return conn.roundtrip(frame, rid, att.req.opcode, att.attempt_timeout())
        except ProtocolError as e:
            self._drop(addr)
            att.transport_failed(ProtocolError("%s (from %s)" % (e.message, core.owner_str(addr))))
        except socket.timeout:
            self._drop(addr)
            att.transport_failed(
                HoldfastTimeout(
                    "no reply from %s within %g s; the outcome is unknown, resend with the same ids"
                    % (core.owner_str(addr), self.options.timeout)
                )
            )
        except OSError as e:
            self._drop(addr)
            att.transport_failed(
                HoldfastTimeout(
                    "connection to %s failed (%s); the outcome is unknown, resend with the same ids"
                    % (core.owner_str(addr), e)
                )
            )
        return None

    def _call_locked(self, req: core.Request[T]) -> T:
        att = core.Attempts(self.options, req)
        rid = self._next_request_id()
        frame = p.encode_frame(req.opcode, rid, req.body)
        # Bounded by Attempts: the deadline, ATTEMPTS_MAX, and the transport retries.
        while att.next():
            addr = self._router.address(req)
            got = self._attempt(att, addr, frame, rid)
            if got is None:
                continue
            status, body = got
            try:
                if status == p.MOVED and req.opcode in p.ROUTED_OPCODES:
                    epoch = p.decode_error_detail(body)
                    att.answered_retry(core.status_error(req, status, epoch))
                    if self._router.needs_refresh(epoch):
                        self._refresh(addr, epoch, att)
                    if self._router.address(req) == addr:
                        time.sleep(att.sleep_for(core.BACKOFF_BUSY_S, core.BACKOFF_BUSY_S_MAX))
                    continue
                if status in (p.BUSY, p.TRY_AGAIN):
                    att.answered_retry(core.status_error(req, status, p.decode_error_detail(body)))
                    time.sleep(att.sleep_for(core.BACKOFF_BUSY_S, core.BACKOFF_BUSY_S_MAX))
                    continue
                return core.answer(req, status, body)
            except ProtocolError as e:
                # A reply that does not decode: the connection cannot be trusted (section 9).
                self._drop(addr)
                att.transport_failed(
                    ProtocolError("%s (from %s)" % (e.message, core.owner_str(addr)))
                )
        raise att.failure()

    def _refresh(self, moved_from: Addr, epoch: int, att: core.Attempts) -> None:
        """Fetches a map at least as new as epoch, from the shard that answered MOVED first."""
        req = core.req_slot_map(None)
        for src in self._router.refresh_sources(moved_from):
            if att.remaining() <= 0:
                return
            rid = self._next_request_id()
            try:
                conn = self._conn(src, att.connect_timeout())
                status, body = conn.roundtrip(
                    p.encode_frame(p.OP_SLOT_MAP, rid, b""),
                    rid,
                    p.OP_SLOT_MAP,
                    att.attempt_timeout(),
                )
                if status != p.OK:
                    continue
                m = p.decode_slot_map(body)
            except (HoldfastError, OSError):
                self._drop(src)
                continue
            self._router.refreshes += 1
            self._router.install(m)
            self._router.refreshed_epoch = max(self._router.refreshed_epoch, epoch)
            # Connections to shards that left the map are not needed any more.
            keep = {(o.host, o.port) for o in m.owners} | {self._router.home}
            for a in [a for a in self._conns if a not in keep]:
                self._drop(a)
            return
