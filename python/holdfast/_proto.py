"""The holdfast wire protocol, version 1, as docs/protocol.md states it: frame header, opcodes,
statuses, limits, the slot hash, and one encoder and one decoder per opcode body.

Pure functions over bytes: no sockets, no clock. The blocking and asyncio clients both build on
it. Every decoder checks the exact body size, the counts against their limits and the reserved
bytes, and raises ProtocolError on anything else, so a malformed reply never becomes a wrong
answer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from .errors import ProtocolError
from .types import (
    Avail,
    Booking,
    EventInfo,
    Hold,
    RoomInfo,
    RoomPosition,
    SeatStatus,
    SlotMap,
    SlotOwner,
)

# ---- Limits (docs/protocol.md section 3) ----
PROTO_VERSION = 1
FRAME_MAGIC = 0x4648
FRAME_HEADER_SIZE = 24
FRAME_BODY_SIZE_MAX = 262144
FRAME_SIZE_MAX = FRAME_HEADER_SIZE + FRAME_BODY_SIZE_MAX
FLAG_REPLY = 0x0001
SLOTS_COUNT = 4096
EVENT_SEATS_MAX = 16777216
HOLD_SEATS_MAX = 64
SEAT_STATUS_SEATS_MAX = 1024
AVAIL_RANGE_MAX = 1048576
HOLD_LIFETIME_MAX_S = 86400
SLOT_OWNERS_MAX = 256
HOST_SIZE_MAX = 63
STATS_MAX = 256
STAT_NAME_SIZE_MAX = 47
ERROR_BODY_SIZE = 8
PATH_SIZE_MAX = 1024
U32_MAX = 0xFFFFFFFF
U64_MAX = 0xFFFFFFFFFFFFFFFF

# ---- Opcodes (section 5) ----
OP_PING = 0x01
OP_CREATE_EVENT = 0x02
OP_EVENT_INFO = 0x03
OP_HOLD = 0x04
OP_EXTEND = 0x05
OP_CONFIRM = 0x06
OP_RELEASE = 0x07
OP_CANCEL = 0x08
OP_AVAIL = 0x09
OP_SEAT_STATUS = 0x0A
OP_SLOT_MAP = 0x0B
OP_STATS = 0x0C
OP_SEAT_INFO = 0x0D
OP_EVENT_SECTIONS = 0x40
OP_WATCH = 0x41
OP_UNWATCH = 0x42
OP_WATCH_CHANGE = 0x43  # pushed by the server to a watcher; never a request
OP_BACKUP = 0x20
OP_AUTH = 0x50
AUTH_TOKEN_SIZE_MAX = 256
# The waiting room (section 6.13).
OP_JOIN = 0x48
OP_POSITION = 0x49
OP_ROOM_SET = 0x4A
OP_ROOM_INFO = 0x4B
HOLD_FLAG_TOKEN = 0x04
ROOM_TOKEN_SIZE = 40  # expires_ms u64 + a 32-byte HMAC-SHA256
ROOM_QUEUE_SIZE_MAX = 1048576
ROOM_STATES = {1: "waiting", 2: "admitted"}

OPCODE_NAMES: Dict[int, str] = {
    OP_PING: "PING",
    OP_CREATE_EVENT: "CREATE_EVENT",
    OP_EVENT_INFO: "EVENT_INFO",
    OP_HOLD: "HOLD",
    OP_EXTEND: "EXTEND",
    OP_CONFIRM: "CONFIRM",
    OP_RELEASE: "RELEASE",
    OP_CANCEL: "CANCEL",
    OP_AVAIL: "AVAIL",
    OP_SEAT_STATUS: "SEAT_STATUS",
    OP_SLOT_MAP: "SLOT_MAP",
    OP_STATS: "STATS",
    OP_SEAT_INFO: "SEAT_INFO",
    OP_EVENT_SECTIONS: "EVENT_SECTIONS",
    OP_WATCH: "WATCH",
    OP_UNWATCH: "UNWATCH",
    OP_BACKUP: "BACKUP",
    OP_AUTH: "AUTH",
    OP_JOIN: "JOIN",
    OP_POSITION: "POSITION",
    OP_ROOM_SET: "ROOM_SET",
    OP_ROOM_INFO: "ROOM_INFO",
}

# The store operations: routed by the event's slot (section 4.3).
ROUTED_OPCODES = frozenset(range(OP_CREATE_EVENT, OP_SEAT_STATUS + 1)) | frozenset(
    (
        OP_SEAT_INFO,
        OP_EVENT_SECTIONS,
        OP_WATCH,
        OP_UNWATCH,
        OP_JOIN,
        OP_POSITION,
        OP_ROOM_SET,
        OP_ROOM_INFO,
    )
)

# ---- Statuses (section 7) ----
OK = 0
MOVED = 5
BUSY = 6
TRY_AGAIN = 7
IO = 9

STATUS_NAMES: Dict[int, str] = {
    0: "OK",
    1: "MALFORMED",
    2: "VERSION",
    3: "OPCODE",
    4: "TOO_LARGE",
    5: "MOVED",
    6: "BUSY",
    7: "TRY_AGAIN",
    8: "INTERNAL",
    9: "IO",
    10: "INVALID",
    11: "CAPACITY",
    16: "NO_EVENT",
    17: "EVENT_EXISTS",
    18: "SEAT_RANGE",
    19: "SEAT_TAKEN",
    20: "NOT_ENOUGH",
    21: "USER_LIMIT",
    22: "NO_HOLD",
    23: "HOLD_EXPIRED",
    24: "HOLD_RELEASED",
    25: "ID_CONFLICT",
    26: "NO_BOOKING",
    27: "BOOKING_CANCELLED",
    28: "HOLD_CONFIRMED",
    29: "DUPLICATE_SEAT",
    30: "ORPHAN_SEAT",
    31: "WATCHING",
    40: "UNAUTHORIZED",
    41: "FORBIDDEN",
    42: "RATE_LIMITED",
    43: "NOT_ADMITTED",
    44: "NOT_IN_QUEUE",
    45: "ROOM_FULL",
    46: "NO_ROOM",
    47: "SOLD_OUT",
    35: "EVENT_HAS_HOLDS",
    36: "MOVE_STATE",
    37: "MOVE_FAILED",
}

STATUS_MESSAGES: Dict[int, str] = {
    1: "malformed request",
    2: "unsupported protocol version",
    3: "unknown opcode",
    4: "request too large",
    5: "event is served by another shard",
    6: "server busy, retry later",
    7: "event is moving between shards, retry shortly",
    8: "internal server error",
    9: "could not persist the change; nothing changed",
    10: "invalid argument",
    11: "shard is full",
    16: "no such event",
    17: "event exists with different parameters",
    18: "seat out of range",
    19: "seat already held or booked",
    20: "not enough adjacent free seats",
    21: "per-user seat limit reached",
    22: "no such hold",
    23: "hold expired",
    24: "hold was released",
    25: "id already used for a different request",
    26: "no such booking",
    27: "booking was cancelled",
    28: "hold is already confirmed",
    29: "seat listed twice",
    30: "would leave a single free seat alone in its row",
    31: "this connection watches an event: it takes no writes and watches one event",
    40: "no valid token presented (AUTH)",
    41: "not allowed for this token's role, or outside the backup root",
    42: "too many requests from this user; retry after the given ms",
    43: "the event has a waiting room: join it and hold with the admission token",
    44: "the user has no place in the waiting room",
    45: "the waiting room is full",
    46: "the event has no waiting room",
    47: "sold out: every seat is booked",
    35: "the event has live holds (use --force to delete it anyway)",
    36: "the shard is not in the state this move step needs",
    37: "copying the slot failed; roll the move back (cluster fix)",
}

# Statuses after which the same request (same ids) is resent: MOVED after a map refresh, the others
# after a backoff. IO is retryable on the wire too, but the client hands it to the caller (nothing
# changed, so the caller decides), as libholdfast does.
RETRY_STATUSES = frozenset((MOVED, BUSY, TRY_AGAIN))

SEAT_STATES = ("free", "held", "booked")

HOLD_MODE_EXPLICIT = 0
HOLD_MODE_BEST = 1

_HEADER = struct.Struct("<HBBHHQII")
# The HOLD request body with n explicit seats, by n (0 .. HOLD_SEATS_MAX).
_HOLD_FORMATS = ["<QQQIB3xI%dI" % n for n in range(HOLD_SEATS_MAX + 1)]
_U64 = struct.Struct("<Q")


def status_name(code: int) -> str:
    """The protocol's name of a status ("SEAT_TAKEN"), or "UNKNOWN_<code>"."""
    return STATUS_NAMES.get(code, "UNKNOWN_%d" % code)


def status_message(code: int) -> str:
    return STATUS_MESSAGES.get(code, "unknown status")


# ---- The slot hash (section 4.1) ----


def fmix64(k: int) -> int:
    """The 64-bit finalizer of MurmurHash3, on an unsigned 64-bit k."""
    k &= U64_MAX
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & U64_MAX
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & U64_MAX
    k ^= k >> 33
    return k


def slot_of(event_id: int) -> int:
    """The slot (0 .. 4095) of an event: fmix64(event_id) mod 4096."""
    return fmix64(event_id) & (SLOTS_COUNT - 1)


# ---- Frames ----


@dataclass(frozen=True)
class Header:
    opcode: int
    flags: int
    status: int
    request_id: int
    body_size: int


def encode_frame(opcode: int, request_id: int, body: bytes) -> bytes:
    """A request frame: the 24-byte header, then body."""
    if not 0 <= request_id <= U64_MAX:
        raise ValueError("request id out of u64 range")
    if len(body) > FRAME_BODY_SIZE_MAX:
        raise ValueError("request body of %d bytes exceeds %d" % (len(body), FRAME_BODY_SIZE_MAX))
    return _HEADER.pack(FRAME_MAGIC, PROTO_VERSION, opcode, 0, 0, request_id, len(body), 0) + body


def decode_reply_header(buf: "bytes | bytearray", off: int = 0) -> Header:
    """Checks the reply header at buf[off:] (section 9, the client's side) and returns it;
    ProtocolError on a bad magic, version, flags, reserved field or body size, or on a frame that
    is not a reply."""
    if len(buf) - off < FRAME_HEADER_SIZE:
        raise ProtocolError(
            "short frame header: %d of %d bytes" % (len(buf) - off, FRAME_HEADER_SIZE)
        )
    magic, version, opcode, flags, status, request_id, body_size, reserved = _HEADER.unpack_from(
        buf, off
    )
    if magic != FRAME_MAGIC:
        raise ProtocolError("bad frame magic 0x%04x (expected 0x%04x)" % (magic, FRAME_MAGIC))
    if version != PROTO_VERSION:
        raise ProtocolError("unsupported protocol version %d in a reply" % version)
    if flags != FLAG_REPLY:
        raise ProtocolError("frame flags 0x%04x: not a reply" % flags)
    if reserved != 0:
        raise ProtocolError("nonzero reserved header field in a reply")
    if body_size > FRAME_BODY_SIZE_MAX:
        raise ProtocolError("reply body of %d bytes exceeds %d" % (body_size, FRAME_BODY_SIZE_MAX))
    return Header(opcode, flags, status, request_id, body_size)


def decode_error_detail(body: bytes) -> int:
    """The u64 detail of a reply whose status is not OK."""
    if len(body) != ERROR_BODY_SIZE:
        raise ProtocolError("error reply body of %d bytes (expected 8)" % len(body))
    return int(_U64.unpack(body)[0])


# ---- Request bodies (section 6) ----


def _check_u64(name: str, value: int, nonzero: bool) -> int:
    # The common case first: a plain int in range (type() is not bool's, which isinstance admits).
    if type(value) is int and (1 if nonzero else 0) <= value <= U64_MAX:
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    lo = 1 if nonzero else 0
    if not lo <= value <= U64_MAX:
        raise ValueError("%s %d is not in %d .. 2**64-1" % (name, value, lo))
    return value


def _check_u32(name: str, value: int, lo: int, hi: int) -> int:
    if type(value) is int and lo <= value <= hi:
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if not lo <= value <= hi:
        raise ValueError("%s %d is not in %d .. %d" % (name, value, lo, hi))
    return value


def ttl_to_ms(ttl: float) -> int:
    """A ttl in seconds (int or float) as the wire's u32 milliseconds, at least 1 ms."""
    if type(ttl) is int and 0 < ttl <= HOLD_LIFETIME_MAX_S:
        return ttl * 1000
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise TypeError("ttl must be a number of seconds")
    if not ttl > 0 or ttl > HOLD_LIFETIME_MAX_S:
        raise ValueError("ttl %r is not in (0, %d] seconds" % (ttl, HOLD_LIFETIME_MAX_S))
    return max(1, int(round(ttl * 1000)))


def body_event(event_id: int) -> bytes:
    return _U64.pack(_check_u64("event_id", event_id, True))


def body_create_event(
    event_id: int, seats: int, row_width: int, user_limit: int, hold_lifetime_s: int
) -> bytes:
    _check_u64("event_id", event_id, True)
    _check_u32("seats", seats, 1, EVENT_SEATS_MAX)
    _check_u32("row_width", row_width, 0, seats)
    _check_u32("user_limit", user_limit, 0, U32_MAX)
    _check_u32("hold_lifetime", hold_lifetime_s, 0, HOLD_LIFETIME_MAX_S)
    return struct.pack("<QIIII", event_id, seats, row_width, user_limit, hold_lifetime_s)


USER_RATE_MAX = 1_000_000


def body_create_event_rate(body: bytes, user_rate: int, user_burst: int) -> bytes:
    """A CREATE_EVENT body (with or without sections) with the event's per-user HOLD rate: version
    3 of the body (an empty section count when there are no sections, then rate and burst)."""
    _check_u32("user_rate", user_rate, 1, USER_RATE_MAX)
    _check_u32("user_burst", user_burst, 0, USER_RATE_MAX)
    if len(body) == 24:
        body += b"\x00"
    return body + struct.pack("<II", user_rate, user_burst)


def body_hold_token(body: bytes, token: bytes) -> bytes:
    """A HOLD body (from body_hold) with an admission token: the TOKEN flag and the 40 bytes."""
    if not isinstance(token, (bytes, bytearray)) or len(token) != ROOM_TOKEN_SIZE:
        raise ValueError("token must be the %d bytes join() returned" % ROOM_TOKEN_SIZE)
    return body[:29] + bytes((body[29] | HOLD_FLAG_TOKEN,)) + body[30:] + bytes(token)


def body_join(event_id: int, user_id: int) -> bytes:
    _check_u64("event_id", event_id, True)
    _check_u64("user", user_id, False)
    return struct.pack("<QQ", event_id, user_id)


def body_room_set(
    event_id: int, enabled: bool, policy: int, shoppers_pct: int, admit_ttl_ms: int, queue_max: int
) -> bytes:
    _check_u64("event_id", event_id, True)
    _check_u32("policy", policy, 0, 1)
    _check_u32("shoppers_per_seat (in hundredths)", shoppers_pct, 1, 10000)
    _check_u32("admit_ttl_ms", admit_ttl_ms, 1000, 3600000)
    _check_u32("queue_max", queue_max, 1, ROOM_QUEUE_SIZE_MAX)
    return struct.pack(
        "<QBBHII", event_id, 1 if enabled else 0, policy, shoppers_pct, admit_ttl_ms, queue_max
    )


def decode_room_position(body: bytes, event_id: int, user_id: int) -> RoomPosition:
    _expect_size("JOIN/POSITION", body, 56)
    state, position, length, estimate_ms = struct.unpack_from("<B3xIII", body, 0)
    if state not in ROOM_STATES:
        raise ProtocolError("JOIN reply with state %d" % state)
    token = bytes(body[16:56]) if state == 2 else None
    expires_ms = struct.unpack_from("<Q", body, 16)[0]
    return RoomPosition(
        event_id,
        user_id,
        ROOM_STATES[state],
        position,
        length,
        None if estimate_ms == U32_MAX else estimate_ms / 1000.0,
        token,
        expires_ms,
    )


def decode_room_info(body: bytes, event_id: int) -> RoomInfo:
    _expect_size("ROOM_INFO", body, 72)
    f = struct.unpack_from("<BBHIIIIIIB3xIIQQQQ", body, 0)
    return RoomInfo(
        event_id,
        enabled=bool(f[0]),
        policy="drop" if f[1] == 1 else "requeue",
        shoppers_per_seat=f[2] / 100.0,
        admit_ttl=f[3] / 1000.0,
        queue_max=f[4],
        length=f[5],
        admitted=f[6],
        holding=f[7],
        free=f[8],
        sold_out=bool(f[9]),
        rate=f[10],
        estimate=None if f[11] == U32_MAX else f[11] / 1000.0,
        joins=f[12],
        admits=f[13],
        expired=f[14],
        refused=f[15],
    )


def body_hold(
    event_id: int,
    hold_id: int,
    user_id: int,
    ttl_ms: int,
    seats: Optional[Sequence[int]],
    best: Optional[int],
) -> bytes:
    _check_u64("event_id", event_id, True)
    _check_u64("hold id", hold_id, True)
    _check_u64("user", user_id, False)
    _check_u32("ttl_ms", ttl_ms, 1, U32_MAX)
    if (seats is None) == (best is None):
        raise ValueError("hold needs exactly one of seats=[...] or best=N")
    if best is not None:
        _check_u32("best", best, 1, HOLD_SEATS_MAX)
        return struct.pack("<QQQIB3xI", event_id, hold_id, user_id, ttl_ms, HOLD_MODE_BEST, best)
    assert seats is not None
    seat_list = list(seats)
    _check_u32("number of seats", len(seat_list), 1, HOLD_SEATS_MAX)
    for s in seat_list:
        if type(s) is not int or not 0 <= s <= U32_MAX:
            _check_u32("seat", s, 0, U32_MAX)
    n = len(seat_list)
    return struct.pack(
        _HOLD_FORMATS[n], event_id, hold_id, user_id, ttl_ms, HOLD_MODE_EXPLICIT, n, *seat_list
    )


def body_extend(event_id: int, hold_id: int, ttl_ms: int) -> bytes:
    _check_u64("event_id", event_id, True)
    _check_u64("hold id", hold_id, True)
    _check_u32("ttl_ms", ttl_ms, 1, U32_MAX)
    return struct.pack("<QQI", event_id, hold_id, ttl_ms)


def body_hold_ref(event_id: int, hold_id: int) -> bytes:
    """CONFIRM, RELEASE and CANCEL: the event and the hold (or booking) id."""
    _check_u64("event_id", event_id, True)
    _check_u64("hold id", hold_id, True)
    return struct.pack("<QQ", event_id, hold_id)


def body_avail(event_id: int, first: int, count: int) -> bytes:
    _check_u64("event_id", event_id, True)
    _check_u32("first", first, 0, U32_MAX)
    _check_u32("count", count, 0, AVAIL_RANGE_MAX)
    if first + count > U32_MAX + 1:
        raise ValueError("range %d + %d passes the u32 seat space" % (first, count))
    return struct.pack("<QII", event_id, first, count)


def body_seat_status(event_id: int, seats: Sequence[int]) -> bytes:
    _check_u64("event_id", event_id, True)
    seat_list = list(seats)
    _check_u32("number of seats", len(seat_list), 1, SEAT_STATUS_SEATS_MAX)
    for s in seat_list:
        _check_u32("seat", s, 0, U32_MAX)
    return struct.pack("<QI%dI" % len(seat_list), event_id, len(seat_list), *seat_list)


def body_backup(path: str) -> bytes:
    raw = path.encode("utf-8")
    if not raw.startswith(b"/"):
        raise ValueError("backup path must be absolute")
    if b"\0" in raw:
        raise ValueError("backup path contains a NUL byte")
    _check_u32("backup path size", len(raw), 1, PATH_SIZE_MAX)
    return struct.pack("<H", len(raw)) + raw


def body_auth(token: str) -> bytes:
    raw = token.encode("utf-8")
    _check_u32("token size", len(raw), 1, AUTH_TOKEN_SIZE_MAX)
    return struct.pack("<H", len(raw)) + raw


# ---- Reply bodies (section 6) ----


def _expect_size(what: str, body: bytes, size: int) -> None:
    if len(body) != size:
        raise ProtocolError("%s reply body of %d bytes (expected %d)" % (what, len(body), size))


def decode_ping(body: bytes) -> int:
    _expect_size("PING", body, 8)
    return int(_U64.unpack(body)[0])


def decode_empty(what: str, body: bytes) -> None:
    _expect_size(what, body, 0)


def decode_event_info(body: bytes) -> EventInfo:
    _expect_size("EVENT_INFO", body, 48)
    f = struct.unpack("<QIIIIIIIIII", body)
    if f[10] != 0:
        raise ProtocolError("EVENT_INFO reply with a nonzero reserved field")
    if f[5] + f[6] + f[7] != f[1]:
        raise ProtocolError("EVENT_INFO reply: free + held + booked != seats")
    return EventInfo(
        event_id=f[0],
        seats=f[1],
        row_width=f[2],
        user_limit=f[3],
        hold_lifetime=f[4],
        free=f[5],
        held=f[6],
        booked=f[7],
        holds=f[8],
        bookings=f[9],
    )


def _decode_seats(what: str, body: bytes, off: int) -> Tuple[int, ...]:
    (count,) = struct.unpack_from("<I", body, off)
    if not 1 <= count <= HOLD_SEATS_MAX:
        raise ProtocolError("%s reply with %d seats (1 .. %d)" % (what, count, HOLD_SEATS_MAX))
    _expect_size(what, body, off + 4 + 4 * count)
    return struct.unpack_from("<%dI" % count, body, off + 4)


def decode_hold(body: bytes, event_id: int) -> Hold:
    if len(body) < 20:
        raise ProtocolError("HOLD reply body of %d bytes (at least 20)" % len(body))
    hold_id, deadline_ms = struct.unpack_from("<QQ", body, 0)
    seats = _decode_seats("HOLD", body, 16)
    return Hold(id=hold_id, event_id=event_id, seats=seats, deadline_ms=deadline_ms)


def decode_extend(body: bytes) -> int:
    _expect_size("EXTEND", body, 8)
    return int(_U64.unpack(body)[0])


def decode_confirm(body: bytes, event_id: int) -> Booking:
    if len(body) < 12:
        raise ProtocolError("CONFIRM reply body of %d bytes (at least 12)" % len(body))
    (booking_id,) = struct.unpack_from("<Q", body, 0)
    seats = _decode_seats("CONFIRM", body, 8)
    return Booking(id=booking_id, event_id=event_id, seats=seats)


@dataclass(frozen=True)
class AvailRange:
    seats: int
    free: int
    first: int
    count: int
    bitmap: bytes


def decode_avail(body: bytes) -> AvailRange:
    if len(body) < 16:
        raise ProtocolError("AVAIL reply body of %d bytes (at least 16)" % len(body))
    seats, free, first, count = struct.unpack_from("<IIII", body, 0)
    if count > AVAIL_RANGE_MAX:
        raise ProtocolError("AVAIL reply range of %d seats (at most %d)" % (count, AVAIL_RANGE_MAX))
    _expect_size("AVAIL", body, 16 + (count + 7) // 8)
    if free > seats or first + count > seats:
        raise ProtocolError("AVAIL reply counts do not fit the event")
    bitmap = bytes(body[16:])
    if count % 8 and bitmap[-1] >> (count % 8):
        raise ProtocolError("AVAIL reply with a padding bit set")
    return AvailRange(seats, free, first, count, bitmap)


def decode_seat_status(body: bytes, expected: int) -> List[SeatStatus]:
    if len(body) < 4:
        raise ProtocolError("SEAT_STATUS reply body of %d bytes (at least 4)" % len(body))
    (count,) = struct.unpack_from("<I", body, 0)
    if count != expected:
        raise ProtocolError("SEAT_STATUS reply for %d seats (asked %d)" % (count, expected))
    _expect_size("SEAT_STATUS", body, 4 + 16 * count)
    out: List[SeatStatus] = []
    for i in range(count):
        seat, state, r0, r1, owner = struct.unpack_from("<IBBHQ", body, 4 + 16 * i)
        if state >= len(SEAT_STATES) or r0 or r1:
            raise ProtocolError("SEAT_STATUS reply entry %d is malformed" % i)
        out.append(SeatStatus(seat=seat, state=SEAT_STATES[state], owner_id=owner))
    return out


def _take(body: bytes, off: int, size: int, what: str) -> bytes:
    if off + size > len(body):
        raise ProtocolError("%s reply truncated at byte %d" % (what, off))
    return body[off : off + size]


def _decode_string(body: bytes, off: int, size: int, what: str) -> str:
    raw = _take(body, off, size, what)
    if b"\0" in raw:
        raise ProtocolError("%s reply string contains a NUL byte" % what)
    return raw.decode("utf-8", errors="replace")


def decode_slot_map(body: bytes) -> SlotMap:
    if len(body) < 12:
        raise ProtocolError("SLOT_MAP reply body of %d bytes (at least 12)" % len(body))
    epoch, owners_count, slots_count = struct.unpack_from("<QHH", body, 0)
    if epoch < 1:
        raise ProtocolError("SLOT_MAP reply with epoch 0")
    if not 1 <= owners_count <= SLOT_OWNERS_MAX:
        raise ProtocolError(
            "SLOT_MAP reply with %d owners (1 .. %d)" % (owners_count, SLOT_OWNERS_MAX)
        )
    if slots_count != SLOTS_COUNT:
        raise ProtocolError(
            "SLOT_MAP reply with %d slots (expected %d)" % (slots_count, SLOTS_COUNT)
        )
    off = 12
    owners: List[SlotOwner] = []
    for _ in range(owners_count):
        port, host_size = struct.unpack("<HB", _take(body, off, 3, "SLOT_MAP"))
        if not 1 <= host_size <= HOST_SIZE_MAX:
            raise ProtocolError("SLOT_MAP reply host of %d bytes" % host_size)
        host = _decode_string(body, off + 3, host_size, "SLOT_MAP")
        owners.append(SlotOwner(host=host, port=port))
        off += 3 + host_size
    _expect_size("SLOT_MAP", body, off + 2 * SLOTS_COUNT)
    table = struct.unpack_from("<%dH" % SLOTS_COUNT, body, off)
    if max(table) >= owners_count:
        raise ProtocolError("SLOT_MAP reply names an owner past its list")
    return SlotMap(epoch=epoch, owners=tuple(owners), slot_owner=tuple(table))


def decode_stats(body: bytes) -> Dict[str, int]:
    if len(body) < 2:
        raise ProtocolError("STATS reply body of %d bytes (at least 2)" % len(body))
    (count,) = struct.unpack_from("<H", body, 0)
    if count > STATS_MAX:
        raise ProtocolError("STATS reply with %d entries (at most %d)" % (count, STATS_MAX))
    off = 2
    out: Dict[str, int] = {}
    for _ in range(count):
        (name_size,) = _take(body, off, 1, "STATS")
        if not 1 <= name_size <= STAT_NAME_SIZE_MAX:
            raise ProtocolError("STATS reply name of %d bytes" % name_size)
        name = _decode_string(body, off + 1, name_size, "STATS")
        (value,) = _U64.unpack(_take(body, off + 1 + name_size, 8, "STATS"))
        out[name] = int(value)
        off += 1 + name_size + 8
    _expect_size("STATS", body, off)
    return out


def decode_backup(body: bytes) -> int:
    _expect_size("BACKUP", body, 8)
    return int(_U64.unpack(body)[0])
