"""The asyncio holdfast client: the same operations as Client, as coroutines, with pipelining.

Many requests may be in flight at once (up to Options.pipeline_max per client, more wait for a
place), on one connection per shard: each frame carries a request id and the reply is matched to
its request by it. Routing, MOVED, BUSY / TRY_AGAIN backoff and resends with the same ids follow
the same rules as Client (holdfast._core). A timeout of one request drops its connection: replies
come back in order, so every request behind it would wait too; they are all resent on a new one.

An AsyncClient belongs to one event loop. Create it anywhere; the slot map is fetched on the first
call (or `await client.connect()`).
"""

from __future__ import annotations

import asyncio
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
from .watch import AsyncWatch, open_async

T = TypeVar("T")

Addr = Tuple[str, int]
_Reply = Tuple[int, bytes]


class _Resend(HoldfastError):
    """A request that must be resent through no fault of its own (its connection failed because
    of another request): the resend does not count against Options.retries."""

    def __init__(self, message: str) -> None:
        super().__init__("TIMEOUT", message)


class _Conn(asyncio.Protocol):
    """One connection to one shard and the requests in flight on it, by request id.

    Frames written in one loop iteration go out in one write (send(2)), and one timer per
    connection watches the earliest reply deadline: when it passes, the connection fails (replies
    come in order, so every request behind the late one is stuck too) and its requests are resent.

    INVARIANTS
     1. Every entry of pending is a request written (or queued in out) on this connection and not
        answered; its deadline is on the loop clock.
     2. Once closed, pending and out are empty and stay empty: send() refuses.
     3. While pending is not empty and the connection is open, a timer is armed at or before the
        earliest deadline in pending.
    """

    def __init__(self, addr: Addr) -> None:
        self.addr = addr
        self.loop = asyncio.get_running_loop()
        self.transport: Optional[asyncio.Transport] = None
        self.buf = bytearray()
        self.pending: Dict[int, Tuple[int, "asyncio.Future[_Reply]", float]] = {}
        self.out: List[bytes] = []
        self.closed = False
        self.paused: Optional["asyncio.Future[None]"] = None
        self.timer: Optional[asyncio.TimerHandle] = None
        self.timer_at = 0.0
        self.timeout_s = 0.0

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        off = 0
        # Bounded by the buffer: every pass consumes one whole frame or stops.
        while len(buf) - off >= p.FRAME_HEADER_SIZE:
            try:
                h = p.decode_reply_header(buf, off)
            except ProtocolError as e:
                self.fail(ProtocolError("%s (from %s)" % (e.message, core.owner_str(self.addr))))
                return
            end = off + p.FRAME_HEADER_SIZE + h.body_size
            if len(buf) < end:
                break
            entry = self.pending.get(h.request_id)
            if entry is None or entry[0] != h.opcode:
                self.fail(
                    ProtocolError(
                        "reply from %s (request id %d, opcode 0x%02x) answers no request in flight"
                        % (core.owner_str(self.addr), h.request_id, h.opcode)
                    )
                )
                return
            del self.pending[h.request_id]
            fut = entry[1]
            if not fut.done():
                fut.set_result((h.status, bytes(buf[off + p.FRAME_HEADER_SIZE : end])))
            off = end
        if off:
            del buf[:off]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        why = str(exc) if exc else "closed by the server"
        self.fail(
            HoldfastTimeout(
                "connection to %s lost (%s); the outcome is unknown, resend with the same ids"
                % (core.owner_str(self.addr), why)
            )
        )

    def pause_writing(self) -> None:
        if self.paused is None:
            self.paused = self.loop.create_future()

    def resume_writing(self) -> None:
        if self.paused is not None:
            if not self.paused.done():
                self.paused.set_result(None)
            self.paused = None

    # used by AsyncClient

    def alive(self) -> bool:
        # is_closing() turns true before connection_lost runs (it is scheduled with call_soon).
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def send(
        self, request_id: int, opcode: int, frame: bytes, timeout_s: float
    ) -> "asyncio.Future[_Reply]":
        """Queues frame for this loop iteration's write; the future gets (status, body)."""
        if not self.alive():
            raise _Resend("connection to %s is closed" % core.owner_str(self.addr))
        fut: "asyncio.Future[_Reply]" = self.loop.create_future()
        deadline = self.loop.time() + timeout_s
        self.pending[request_id] = (opcode, fut, deadline)
        if not self.out:
            self.loop.call_soon(self.flush)
        self.out.append(frame)
        if self.timer is None or deadline < self.timer_at:
            self.arm(deadline, timeout_s)
        return fut

    def flush(self) -> None:
        if self.out and self.alive():
            assert self.transport is not None
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def arm(self, at: float, timeout_s: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer_at = at
        self.timeout_s = timeout_s
        self.timer = self.loop.call_at(at, self.on_timer)

    def on_timer(self) -> None:
        self.timer = None
        if self.closed or not self.pending:
            return
        now = self.loop.time()
        earliest = min(e[2] for e in self.pending.values())
        if earliest > now:
            self.arm(earliest, self.timeout_s)
            return
        self.fail(
            HoldfastTimeout(
                "no reply from %s within %g s; the outcome is unknown, resend with the same ids"
                % (core.owner_str(self.addr), self.timeout_s)
            ),
            late_before=now,
        )

    def forget(self, request_id: int) -> None:
        self.pending.pop(request_id, None)

    def fail(self, err: HoldfastError, late_before: Optional[float] = None) -> None:
        """Closes the connection and fails every request in flight on it: with err, or, when
        late_before is given, with err only those whose deadline passed and a _Resend the others."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.out.clear()
        pending, self.pending = self.pending, {}
        for _, fut, deadline in pending.values():
            if fut.done():
                continue
            if late_before is not None and deadline > late_before:
                fut.set_exception(
                    _Resend("resent: connection to %s timed out" % core.owner_str(self.addr))
                )
            else:
                fut.set_exception(err)
        if self.paused is not None and not self.paused.done():
            self.paused.set_result(None)


class AsyncClient:
    """An asyncio client with the methods of Client as coroutines. Example:

    async with AsyncClient("127.0.0.1:7070") as c:
        holds = await asyncio.gather(*(c.hold(42, user=u, best=2) for u in range(100)),
                                     return_exceptions=True)
    """

    def __init__(
        self, addr: str = "127.0.0.1:7070", *, options: Optional[core.Options] = None, **kw: Any
    ) -> None:
        if options is not None and kw:
            raise TypeError("give either options= or keyword settings, not both")
        opts = options if options is not None else core.Options(**kw)
        self.options = opts.check()
        self._router = core.Router(core.parse_addr(addr))
        self._conns: Dict[Addr, _Conn] = {}
        self._connecting: Dict[Addr, "asyncio.Task[_Conn]"] = {}
        self._slots = asyncio.Semaphore(self.options.pipeline_max)
        self._map_lock = asyncio.Lock()
        self._request_id = 0
        self._closed = False
        self.in_flight = 0  # requests holding a pipeline place now

    # ---- lifecycle ----

    async def connect(self) -> "AsyncClient":
        """Fetches the slot map (done by the first call otherwise)."""
        if self._router.map is None:
            async with self._map_lock:
                if self._router.map is None:
                    # Not through _call: a full pipeline must not keep the first map out.
                    m = await self._run(core.req_slot_map(None))
                    self._router.install(m)
        return self

    async def close(self) -> None:
        """Closes every connection; requests in flight fail with status CLOSED."""
        self._closed = True
        for t in list(self._connecting.values()):
            t.cancel()
        for c in list(self._conns.values()):
            c.fail(HoldfastError("CLOSED", "the client was closed"))
        self._conns.clear()

    async def __aenter__(self) -> "AsyncClient":
        return await self.connect()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ---- operations ----

    async def create_event(
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
        """As Client.create_event (sections=, ga=, user_rate= and user_burst= included)."""
        if not sections and not ga:
            r = core.req_create_event(event_id, seats, row_width, user_limit, hold_lifetime)
        else:
            r = inv.req_create_event(
                event_id, seats, row_width, user_limit, hold_lifetime, sections, ga
            )
        if user_rate or user_burst:
            r.body = p.body_create_event_rate(r.body, user_rate, user_burst)
        await self._call(r)

    async def event_info(self, event_id: int) -> EventInfo:
        return await self._call(core.req_event_info(event_id))

    async def hold(
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
        """As Client.hold (section=, tier=, any=, no_orphan= and quantity= included)."""
        if section is None and tier is None and not any and not no_orphan and quantity is None:
            return await self._call(
                core.req_hold_token(event_id, user, seats, best, ttl, id, token)
            )
        mode, flags, count = inv.hold_shape(seats, best, quantity, section, tier, any, no_orphan)
        scope = tier if tier is not None else 0
        if section is not None:
            try:
                scope = (await self.event_sections(event_id)).scope_of(section)
            except KeyError:
                raise ValueError("event %d has no section %r" % (event_id, section)) from None
        r = inv.req_hold(event_id, user, ttl, id, mode, flags, scope, count, seats or ())
        if token is not None:
            r.body = p.body_hold_token(r.body, token)
        return await self._call(r)

    # ---- the waiting room (docs/protocol.md 6.13) ----

    async def join(self, event_id: int, user: int) -> RoomPosition:
        """Takes a place in the event's waiting room (or returns the user's existing one). Once
        .admitted, pass .token to hold(..., token=...). SOLD_OUT: nothing left to wait for."""
        return await self._call(core.req_join(p.OP_JOIN, event_id, user))

    async def position(self, event_id: int, user: int) -> RoomPosition:
        """The user's place, wait estimate, and token once admitted (poll it while waiting)."""
        return await self._call(core.req_join(p.OP_POSITION, event_id, user))

    async def room_set(
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
                cur = core.RoomParams.of(await self.room_info(event_id))
            except HoldfastError as e:
                if e.status != "NO_ROOM":
                    raise
        p_ = cur.merged(shoppers_per_seat, admit_ttl, policy, queue_max)
        await self._call(
            core.req_room_set(
                event_id, enabled, p_.shoppers_per_seat, p_.admit_ttl, p_.policy, p_.queue_max
            )
        )

    async def room_info(self, event_id: int) -> RoomInfo:
        return await self._call(core.req_room_info(event_id))

    async def watch(self, event_id: int, timeout: Optional[float] = None) -> AsyncWatch:
        """As Client.watch: an AsyncWatch (await w.next(timeout), or async for ch in w)."""
        await self.connect()
        t = self.options.timeout if timeout is None else timeout
        for attempt in range(2):
            addr = self._router.address(core.Request(p.OP_WATCH, event_id, b"", lambda b: None))
            try:
                return await open_async(addr, event_id, self.options.token, t)
            except HoldfastError as e:
                if e.status != "MOVED" or attempt == 1:
                    raise
                await self.slot_map()
        raise AssertionError("unreachable")

    async def event_sections(self, event_id: int) -> EventSections:
        return await self._call(inv.req_event_sections(event_id))

    async def seat_info(self, event_id: int, seats: Sequence[int]) -> List[SeatInfo]:
        return await self._call(inv.req_seat_info(event_id, seats))

    async def extend(self, event_id: int, hold_id: int, ttl: float) -> float:
        return await self._call(core.req_extend(event_id, hold_id, ttl))

    async def confirm(self, event_id: int, hold_id: int) -> Booking:
        return await self._call(core.req_confirm(event_id, hold_id))

    async def release(self, event_id: int, hold_id: int) -> None:
        await self._call(core.req_release(event_id, hold_id))

    async def cancel(self, event_id: int, booking_id: int) -> None:
        await self._call(core.req_cancel(event_id, booking_id))

    async def avail(self, event_id: int, first: int = 0, count: int = 0) -> Avail:
        core.check_avail_args(first, count)
        info = await self._call(core.req_event_info(event_id))
        if count == 0:
            return Avail(event_id, info.seats, info.free, info.held, info.booked)
        r = await self._call(core.req_avail_range(event_id, first, count))
        return Avail(
            event_id, info.seats, info.free, info.held, info.booked, r.first, r.count, r.bitmap
        )

    async def seat_status(self, event_id: int, seats: Sequence[int]) -> List[SeatStatus]:
        return await self._call(core.req_seat_status(event_id, seats))

    async def stats(self, shard: Optional[int] = None) -> Dict[str, int]:
        return await self._call(core.req_stats(shard))

    async def ping(self, shard: Optional[int] = None) -> int:
        return await self._call(core.req_ping(shard))

    async def slot_map(self, shard: Optional[int] = None) -> SlotMap:
        m = await self._call(core.req_slot_map(shard))
        self._router.install(m)
        return m

    async def backup(self, path: str) -> List[int]:
        await self.connect()
        assert self._router.map is not None
        n = len(self._router.map.owners)
        return list(await asyncio.gather(*(self._call(core.req_backup(path, i)) for i in range(n))))

    @staticmethod
    def new_id() -> int:
        return core.new_id()

    @property
    def routing_map(self) -> Optional[SlotMap]:
        return self._router.map

    @property
    def map_refreshes(self) -> int:
        return self._router.refreshes

    def _force_map(self, m: SlotMap) -> None:
        """Test hook: route by m as it is, even when it is older (a stale client)."""
        self._router.force(m)

    # ---- the engine ----

    def _next_request_id(self) -> int:
        self._request_id = (self._request_id + 1) & p.U64_MAX
        return self._request_id

    async def _open(self, addr: Addr, timeout_s: float) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout_s):
                _, conn = await loop.create_connection(lambda: _Conn(addr), addr[0], addr[1])
        except (OSError, TimeoutError) as e:
            raise HoldfastUnavailable(
                "cannot connect to %s: %s" % (core.owner_str(addr), str(e) or "timed out")
            ) from e
        if self._closed:
            conn.fail(HoldfastError("CLOSED", "the client was closed"))
            raise HoldfastError("CLOSED", "the client was closed")
        if self.options.token is not None:
            # A new connection presents the token first; a refusal is final (no resend).
            rid = self._next_request_id()
            frame = p.encode_frame(p.OP_AUTH, rid, p.body_auth(self.options.token))
            status, _ = await conn.send(rid, p.OP_AUTH, frame, timeout_s)
            if status != 0:
                err = HoldfastError(
                    p.status_name(status),
                    "the server refused the token",
                    code=status,
                    opcode="AUTH",
                )
                conn.fail(err)
                raise err
        self._conns[addr] = conn
        return conn

    async def _conn(self, addr: Addr, timeout_s: float) -> _Conn:
        c = self._conns.get(addr)
        if c is not None and c.alive():
            return c
        task = self._connecting.get(addr)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._open(addr, timeout_s))
            self._connecting[addr] = task

            def done(t: "asyncio.Task[_Conn]") -> None:
                self._connecting.pop(addr, None)
                if not t.cancelled():
                    t.exception()  # retrieved here: the awaiters may all be gone

            task.add_done_callback(done)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            # close() cancels connects in progress; a cancelled caller is cancelled as usual.
            if self._closed and task.cancelled():
                raise HoldfastError("CLOSED", "the client was closed") from None
            raise

    def _drop(self, addr: Addr, err: HoldfastError) -> None:
        c = self._conns.pop(addr, None)
        if c is not None:
            c.fail(err)

    async def _roundtrip(
        self, addr: Addr, opcode: int, frame: bytes, rid: int, att: core.Attempts
    ) -> _Reply:
        conn = await self._conn(addr, att.connect_timeout())
        fut = conn.send(rid, opcode, frame, att.attempt_timeout())
        try:
            if conn.paused is not None:
                await conn.paused
            return await fut
        finally:
            conn.forget(rid)

    async def _call(self, req: core.Request[T]) -> T:
        if self._closed:
            raise HoldfastError("CLOSED", "the client is closed", opcode=req.name)
        if self._router.map is None and req.opcode in p.ROUTED_OPCODES:
            await self.connect()
        async with self._slots:
            self.in_flight += 1
            try:
                return await self._run(req)
            finally:
                self.in_flight -= 1

    async def _run(self, req: core.Request[T]) -> T:
        att = core.Attempts(self.options, req)
        rid = self._next_request_id()
        frame = p.encode_frame(req.opcode, rid, req.body)
        # Bounded by Attempts: the deadline, ATTEMPTS_MAX, and the transport retries.
        while att.next():
            addr = self._router.address(req)
            try:
                status, body = await self._roundtrip(addr, req.opcode, frame, rid, att)
            except HoldfastUnavailable as e:
                att.transport_failed(e)
                await asyncio.sleep(
                    att.sleep_for(core.BACKOFF_CONNECT_S, core.BACKOFF_CONNECT_S_MAX)
                )
                continue
            except _Resend:
                continue
            except HoldfastError as e:
                if e.status == "CLOSED":
                    raise
                att.transport_failed(e)
                continue
            try:
                if status == p.MOVED and req.opcode in p.ROUTED_OPCODES:
                    epoch = p.decode_error_detail(body)
                    att.answered_retry(core.status_error(req, status, epoch))
                    if self._router.needs_refresh(epoch):
                        await self._refresh(addr, epoch, att)
                    if self._router.address(req) == addr:
                        await asyncio.sleep(
                            att.sleep_for(core.BACKOFF_BUSY_S, core.BACKOFF_BUSY_S_MAX)
                        )
                    continue
                if status in (p.BUSY, p.TRY_AGAIN):
                    att.answered_retry(core.status_error(req, status, p.decode_error_detail(body)))
                    await asyncio.sleep(att.sleep_for(core.BACKOFF_BUSY_S, core.BACKOFF_BUSY_S_MAX))
                    continue
                return core.answer(req, status, body)
            except ProtocolError as e:
                # A reply that does not decode: the connection cannot be trusted (section 9).
                self._drop(addr, e)
                att.transport_failed(
                    ProtocolError("%s (from %s)" % (e.message, core.owner_str(addr)))
                )
        raise att.failure()

    async def _refresh(self, moved_from: Addr, epoch: int, att: core.Attempts) -> None:
        """One map fetch per new epoch: concurrent MOVED answers wait for the same refresh."""
        async with self._map_lock:
            if not self._router.needs_refresh(epoch):
                return
            for src in self._router.refresh_sources(moved_from):
                if att.remaining() <= 0:
                    return
                rid = self._next_request_id()
                frame = p.encode_frame(p.OP_SLOT_MAP, rid, b"")
                try:
                    status, body = await self._roundtrip(src, p.OP_SLOT_MAP, frame, rid, att)
                    if status != p.OK:
                        continue
                    m = p.decode_slot_map(body)
                except HoldfastError:
                    continue
                self._router.refreshes += 1
                self._router.install(m)
                self._router.refreshed_epoch = max(self._router.refreshed_epoch, epoch)
                keep = {(o.host, o.port) for o in m.owners} | {self._router.home}
                for a in [a for a in self._conns if a not in keep]:
                    self._drop(a, HoldfastTimeout("shard %s left the slot map" % core.owner_str(a)))
                return
