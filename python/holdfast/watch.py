"""WATCH: an event's seat changes as they happen (docs/protocol.md 6.15).

A watch is a connection of its own to the shard that owns the event. After WATCH it receives one
WatchChange per change (held, extended, booked, released, expired, cancelled), each once durable,
in order, with consecutive sequence numbers; or a change of kind "gap" when it fell behind: changes
were dropped, so re-read the seats (avail(), event_sections()) and go on from the gap's seq.

    w = client.watch(42)                    # blocking: Watch
    while (ch := w.next(timeout=1.0)) is not None: ...
    w = await async_client.watch(42)        # asyncio: AsyncWatch
    async for ch in w: ...
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import AsyncIterator, Optional, Tuple

from . import _inventory as inv
from . import _proto as p
from ._core import new_id
from .errors import HoldfastError, HoldfastTimeout, HoldfastUnavailable, ProtocolError
from .types import WatchChange

Addr = Tuple[str, int]


def _watch_frame(event_id: int, request_id: int) -> bytes:
    return p.encode_frame(p.OP_WATCH, request_id, p.body_event(event_id))


def _auth_frame(token: Optional[str]) -> bytes:
    return b"" if token is None else p.encode_frame(p.OP_AUTH, 0, p.body_auth(token))


class _Frames:
    """Splits a byte stream into (header, body) frames."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def take(self) -> Optional[Tuple[p.Header, bytes]]:
        if len(self.buf) < p.FRAME_HEADER_SIZE:
            return None
        h = p.decode_reply_header(self.buf)
        end = p.FRAME_HEADER_SIZE + h.body_size
        if len(self.buf) < end:
            return None
        body = bytes(self.buf[p.FRAME_HEADER_SIZE : end])
        del self.buf[:end]
        return h, body


def _answer(h: p.Header, body: bytes, event_id: int) -> int:
    """The WATCH reply: its seq, or HoldfastError."""
    if h.status != p.OK:
        detail = p.decode_error_detail(body)
        raise HoldfastError(
            p.status_name(h.status), p.status_message(h.status), code=h.status, detail=detail
        )
    return inv.decode_watch(body)


def _change(h: p.Header, body: bytes, event_id: int) -> Optional[WatchChange]:
    if h.opcode != p.OP_WATCH_CHANGE:
        return None
    c = inv.decode_watch_change(body)
    if c.event_id != event_id:
        raise ProtocolError("WATCH_CHANGE for event %d on a watch of %d" % (c.event_id, event_id))
    return c


class Watch:
    """A blocking watch (Client.watch). seq: the event's last change when the watch began."""

    def __init__(self, addr: Addr, event_id: int, token: Optional[str], timeout: float) -> None:
        self.event_id = event_id
        self._frames = _Frames()
        try:
            self._sock = socket.create_connection(addr, timeout=timeout)
        except OSError as e:
            raise HoldfastUnavailable("watch: %s" % e) from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            rid = new_id()
            self._sock.sendall(_auth_frame(token) + _watch_frame(event_id, rid))
            deadline = time.monotonic() + timeout
            while True:
                f = self._frames.take()
                if f is not None and f[0].request_id == rid:
                    self.seq = _answer(f[0], f[1], event_id)
                    break
                if f is not None:
                    if f[0].opcode == p.OP_AUTH and f[0].status != p.OK:
                        raise HoldfastError("UNAUTHORIZED", "the server refused the token")
                    continue
                self._read(deadline)
        except BaseException:
            self._sock.close()
            raise

    def _read(self, deadline: Optional[float]) -> bool:
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            return False
        self._sock.settimeout(left)
        try:
            data = self._sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            raise HoldfastUnavailable("the server closed the watch")
        self._frames.buf += data
        return True

    def next(self, timeout: Optional[float] = None) -> Optional[WatchChange]:
        """The next change, or None when none came within timeout seconds (None: no bound)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            f = self._frames.take()
            if f is not None:
                c = _change(f[0], f[1], self.event_id)
                if c is not None:
                    return c
                continue
            if not self._read(deadline):
                return None

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "Watch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncWatch:
    """An asyncio watch (AsyncClient.watch); iterate it for the changes."""

    def __init__(self, event_id: int) -> None:
        self.event_id = event_id
        self.seq = 0
        self._frames = _Frames()
        self._reader: Optional[asyncio.StreamReader] = None
        self._writer: Optional[asyncio.StreamWriter] = None

    async def _open(self, addr: Addr, token: Optional[str], timeout: float) -> "AsyncWatch":
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(addr[0], addr[1]), timeout
            )
        except (OSError, asyncio.TimeoutError) as e:
            raise HoldfastUnavailable("watch: %r" % (e,)) from None
        self._reader, self._writer = reader, writer
        rid = new_id()
        writer.write(_auth_frame(token) + _watch_frame(self.event_id, rid))
        try:
            self.seq = await asyncio.wait_for(self._await_answer(rid), timeout)
        except asyncio.TimeoutError:
            await self.close()
            raise HoldfastTimeout("no answer to WATCH") from None
        except BaseException:
            await self.close()
            raise
        return self

    async def _await_answer(self, rid: int) -> int:
        while True:
            f = self._frames.take()
            if f is not None and f[0].request_id == rid:
                return _answer(f[0], f[1], self.event_id)
            if f is not None:
                if f[0].opcode == p.OP_AUTH and f[0].status != p.OK:
                    raise HoldfastError("UNAUTHORIZED", "the server refused the token")
                continue
            await self._read()

    async def _read(self) -> None:
        assert self._reader is not None
        data = await self._reader.read(65536)
        if not data:
            raise HoldfastUnavailable("the server closed the watch")
        self._frames.buf += data

    async def next(self, timeout: Optional[float] = None) -> Optional[WatchChange]:
        """The next change, or None when none came within timeout seconds (None: no bound)."""
        try:
            return await asyncio.wait_for(self._next(), timeout)
        except asyncio.TimeoutError:
            return None

    async def _next(self) -> WatchChange:
        while True:
            f = self._frames.take()
            if f is not None:
                c = _change(f[0], f[1], self.event_id)
                if c is not None:
                    return c
                continue
            await self._read()

    def __aiter__(self) -> AsyncIterator[WatchChange]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[WatchChange]:
        while True:
            yield await self._next()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
            self._writer = None


async def open_async(addr: Addr, event_id: int, token: Optional[str], timeout: float) -> AsyncWatch:
    return await AsyncWatch(event_id)._open(addr, token, timeout)
