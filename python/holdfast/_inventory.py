"""Bodies of the inventory opcodes (docs/protocol.md 6.2 sections, 6.4 HOLD with modes, flags and
scope, 6.8a SEAT_INFO, 6.8c EVENT_SECTIONS, 6.15 WATCH and its pushed frames): pure functions over
bytes, like _proto. Checked the same way: exact sizes, counts within limits, reserved bytes zero.
"""

from __future__ import annotations

import struct
from typing import Any, List, Optional, Sequence, Tuple

from . import _proto as p  # noqa: E402 (the opcodes below come from it too)
from ._core import Request, new_id
from .errors import ProtocolError
from .types import EventSections, Hold, SeatInfo, Section, SectionAvail, TierAvail, WatchChange

from ._proto import OP_EVENT_SECTIONS, OP_SEAT_INFO, OP_UNWATCH, OP_WATCH, OP_WATCH_CHANGE

EVENT_SECTIONS_MAX = 16
SECTION_NAME_SIZE_MAX = 15
HOLD_MODE_ANY = 2
HOLD_FLAG_NO_ORPHAN = 0x01
HOLD_FLAG_TIER = 0x02
SECTION_SEATED = 0
SECTION_GA = 1

WATCH_KINDS = ("", "held", "extended", "booked", "released", "expired", "cancelled", "gap")
WATCH_CHANGE_FIXED_SIZE = 48


def _section(spec: Any, ga: bool) -> Section:
    if isinstance(spec, Section):
        return spec
    if not isinstance(spec, (tuple, list)):
        raise TypeError("a section is a Section or a tuple, not %r" % (spec,))
    if ga:
        if not 2 <= len(spec) <= 3:
            raise ValueError("ga=[(name, capacity[, tier])], got %r" % (spec,))
        return Section(spec[0], -1, spec[1], spec[2] if len(spec) > 2 else 0, 0, "ga")
    if not 3 <= len(spec) <= 5:
        raise ValueError("sections=[(name, first, count[, tier[, row_width]])], got %r" % (spec,))
    return Section(
        spec[0], spec[1], spec[2], spec[3] if len(spec) > 3 else 0, spec[4] if len(spec) > 4 else 0
    )


def place_sections(
    seats: int, sections: Sequence[Any], ga: Sequence[Any]
) -> Tuple[int, List[Section]]:
    """The sections of create_event: `sections` as given, then each GA area placed after the
    numbered seats (in order). Returns the event's seat count (seats + GA capacities) and the
    list."""
    out = [_section(s, False) for s in sections]
    total = seats
    for g in ga:
        s = _section(g, True)
        p._check_u32("GA capacity", s.count, 1, p.EVENT_SEATS_MAX)
        out.append(Section(s.name, total, s.count, s.tier, 0, "ga"))
        total += s.count
    if len(out) > EVENT_SECTIONS_MAX:
        raise ValueError("at most %d sections (sections and ga together)" % EVENT_SECTIONS_MAX)
    if total > p.EVENT_SEATS_MAX:
        raise ValueError("seats and GA capacities add up to more than %d" % p.EVENT_SEATS_MAX)
    return total, out


def _encode_section(s: Section) -> bytes:
    name = s.name.encode()
    if not 1 <= len(name) <= SECTION_NAME_SIZE_MAX or b"\0" in name:
        raise ValueError("section name %r: 1..%d bytes, no NUL" % (s.name, SECTION_NAME_SIZE_MAX))
    if s.kind not in ("seated", "ga"):
        raise ValueError("section kind %r: 'seated' or 'ga'" % (s.kind,))
    p._check_u32("section first", s.first, 0, p.U32_MAX)
    p._check_u32("section count", s.count, 1, p.U32_MAX)
    p._check_u32("section tier", s.tier, 0, 255)
    p._check_u32("section row_width", s.row_width, 0, s.count)
    kind = SECTION_GA if s.kind == "ga" else SECTION_SEATED
    return struct.pack("<IIIBBB", s.first, s.count, s.row_width, s.tier, kind, len(name)) + name


def body_create_event(
    event_id: int,
    seats: int,
    row_width: int,
    user_limit: int,
    lifetime_s: int,
    sections: Sequence[Section],
) -> bytes:
    body = p.body_create_event(event_id, seats, row_width, user_limit, lifetime_s)
    if not sections:
        return body
    return body + bytes([len(sections)]) + b"".join(_encode_section(s) for s in sections)


def body_hold(
    event_id: int,
    hold_id: int,
    user: int,
    ttl_ms: int,
    mode: int,
    flags: int,
    scope: int,
    count: int,
    seats: Sequence[int] = (),
) -> bytes:
    p._check_u64("event_id", event_id, True)
    p._check_u64("hold id", hold_id, True)
    p._check_u64("user", user, False)
    p._check_u32("ttl_ms", ttl_ms, 1, p.U32_MAX)
    p._check_u32("number of seats", count, 1, p.HOLD_SEATS_MAX)
    p._check_u32("scope", scope, 0, 0xFFFF)
    seat_list = list(seats)
    for s in seat_list:
        p._check_u32("seat", s, 0, p.U32_MAX)
    head = struct.pack("<QQQIBBHI", event_id, hold_id, user, ttl_ms, mode, flags, scope, count)
    return head + struct.pack("<%dI" % len(seat_list), *seat_list)


def decode_seat_info(body: bytes, expected: int) -> List[SeatInfo]:
    if len(body) < 4:
        raise ProtocolError("SEAT_INFO reply body of %d bytes (at least 4)" % len(body))
    (count,) = struct.unpack_from("<I", body, 0)
    if count != expected:
        raise ProtocolError("SEAT_INFO reply for %d seats (asked %d)" % (count, expected))
    p._expect_size("SEAT_INFO", body, 4 + 24 * count)
    out: List[SeatInfo] = []
    for i in range(count):
        seat, state, r0, r1, owner, user = struct.unpack_from("<IBBHQQ", body, 4 + 24 * i)
        if state >= len(p.SEAT_STATES) or r0 or r1:
            raise ProtocolError("SEAT_INFO reply entry %d is malformed" % i)
        out.append(SeatInfo(seat, p.SEAT_STATES[state], owner, user))
    return out


def _decode_section(body: bytes, off: int) -> Tuple[Section, int]:
    if off + 15 > len(body):
        raise ProtocolError("EVENT_SECTIONS reply cut inside a section")
    first, count, row_width, tier, kind, name_size = struct.unpack_from("<IIIBBB", body, off)
    if kind > SECTION_GA or not 1 <= name_size <= SECTION_NAME_SIZE_MAX:
        raise ProtocolError("EVENT_SECTIONS reply with a malformed section")
    name = p._decode_string(body, off + 15, name_size, "section name")
    return (
        Section(name, first, count, tier, row_width, "ga" if kind == SECTION_GA else "seated"),
        off + 15 + name_size,
    )


def decode_event_sections(body: bytes, event_id: int) -> EventSections:
    if len(body) < 4:
        raise ProtocolError("EVENT_SECTIONS reply body of %d bytes (at least 4)" % len(body))
    n, t = struct.unpack_from("<HH", body, 0)
    if n > EVENT_SECTIONS_MAX or t > n:
        raise ProtocolError("EVENT_SECTIONS reply with %d sections and %d tiers" % (n, t))
    off = 4
    sections = []
    for _ in range(n):
        sec, off = _decode_section(body, off)
        if off + 4 > len(body):
            raise ProtocolError("EVENT_SECTIONS reply cut inside a section")
        (free,) = struct.unpack_from("<I", body, off)
        sections.append(SectionAvail(sec, free))
        off += 4
    p._expect_size("EVENT_SECTIONS", body, off + 12 * t)
    tiers = []
    for i in range(t):
        tier, reserved, seats, free = struct.unpack_from("<HHII", body, off + 12 * i)
        if reserved:
            raise ProtocolError("EVENT_SECTIONS reply tier %d is malformed" % i)
        tiers.append(TierAvail(tier, seats, free))
    return EventSections(event_id, tuple(sections), tuple(tiers))


def decode_watch(body: bytes) -> int:
    """WATCH's reply: the sequence of the event's last change (the next push has seq + 1)."""
    p._expect_size("WATCH", body, 8)
    return int(struct.unpack("<Q", body)[0])


def decode_watch_change(body: bytes) -> WatchChange:
    if len(body) < WATCH_CHANGE_FIXED_SIZE:
        raise ProtocolError("WATCH_CHANGE body of %d bytes" % len(body))
    event_id, seq, kind, state, reserved, count, hold_id, user_id, deadline = struct.unpack_from(
        "<QQBBHIQQQ", body, 0
    )
    if not 1 <= kind < len(WATCH_KINDS) or reserved or count > p.HOLD_SEATS_MAX:
        raise ProtocolError("WATCH_CHANGE frame is malformed")
    p._expect_size("WATCH_CHANGE", body, WATCH_CHANGE_FIXED_SIZE + 4 * count)
    seats = struct.unpack_from("<%dI" % count, body, WATCH_CHANGE_FIXED_SIZE)
    return WatchChange(event_id, seq, WATCH_KINDS[kind], hold_id, user_id, deadline, tuple(seats))


def hold_shape(
    seats: Optional[Sequence[int]],
    best: Optional[int],
    quantity: Optional[int],
    section: Optional[str],
    tier: Optional[int],
    any: bool,
    no_orphan: bool,
) -> Tuple[int, int, int]:
    """(mode, flags, count) of a hold's arguments, checked like the CLI's; the scope of a section
    is resolved by the caller."""
    if (seats is not None) + (best is not None) + (quantity is not None) != 1:
        raise ValueError("hold needs exactly one of seats=[...], best=N or quantity=N")
    if section is not None and tier is not None:
        raise ValueError("hold takes at most one of section= and tier=")
    flags = HOLD_FLAG_NO_ORPHAN if no_orphan else 0
    if seats is not None:
        if section is not None or tier is not None or any:
            raise ValueError("seats=[...] takes no section=, tier= or any=")
        return p.HOLD_MODE_EXPLICIT, flags, len(list(seats))
    if quantity is not None and (section is None or tier is not None or any):
        raise ValueError("quantity=N needs section= (a GA section), and no tier= or any=")
    n = best if best is not None else quantity
    assert n is not None
    if tier is not None:
        p._check_u32("tier", tier, 0, 255)
        flags |= HOLD_FLAG_TIER
    return (HOLD_MODE_ANY if any else p.HOLD_MODE_BEST), flags, n


# ---- Requests (the shape of _core's) ----


def req_create_event(
    event_id: int,
    seats: int,
    row_width: int,
    user_limit: int,
    hold_lifetime: int,
    sections: Sequence[Any],
    ga: Sequence[Any],
) -> "Request[None]":
    total, secs = place_sections(seats, sections, ga)
    body = body_create_event(event_id, total, row_width, user_limit, hold_lifetime, secs)
    return Request(p.OP_CREATE_EVENT, event_id, body, lambda b: p.decode_empty("CREATE_EVENT", b))


def req_hold(
    event_id: int,
    user: int,
    ttl: float,
    hold_id: Optional[int],
    mode: int,
    flags: int,
    scope: int,
    count: int,
    seats: Sequence[int],
) -> "Request[Hold]":
    hid = new_id() if hold_id is None else hold_id
    body = body_hold(event_id, hid, user, p.ttl_to_ms(ttl), mode, flags, scope, count, seats)
    return Request(p.OP_HOLD, event_id, body, lambda b: p.decode_hold(b, event_id))


def req_event_sections(event_id: int) -> "Request[EventSections]":
    return Request(
        OP_EVENT_SECTIONS,
        event_id,
        p.body_event(event_id),
        lambda b: decode_event_sections(b, event_id),
    )


def req_seat_info(event_id: int, seats: Sequence[int]) -> "Request[List[SeatInfo]]":
    seat_list = list(seats)
    body = p.body_seat_status(event_id, seat_list)
    n = len(seat_list)
    return Request(OP_SEAT_INFO, event_id, body, lambda b: decode_seat_info(b, n))
