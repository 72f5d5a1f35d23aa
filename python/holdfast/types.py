"""The values the holdfast client returns: plain frozen dataclasses of Python ints, strs and tuples.

Ids (events, holds, bookings, users) are unsigned 64-bit integers and stay Python ints. When you
hand them to JavaScript as JSON, send them as strings or parse with BigInt: a JavaScript number
holds integers exactly only up to 2**53.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple


@dataclass(frozen=True)
class Hold:
    """A live hold: id (the idempotency key), its seats, and its deadline on the server's clock."""

    id: int
    event_id: int
    seats: Tuple[int, ...]
    deadline_ms: int  # ms since the Unix epoch, server clock

    @property
    def expires_at(self) -> float:
        """The deadline in seconds since the Unix epoch (server clock), like time.time()."""
        return self.deadline_ms / 1000.0


@dataclass(frozen=True)
class Booking:
    """A confirmed hold; its id is the hold's id."""

    id: int
    event_id: int
    seats: Tuple[int, ...]


@dataclass(frozen=True)
class EventInfo:
    event_id: int
    seats: int
    row_width: int  # seats per row, 0 = one row
    user_limit: int  # 0 = no limit
    hold_lifetime: int  # seconds, the effective value (never 0)
    free: int
    held: int
    booked: int
    holds: int  # live holds
    bookings: int  # live bookings


@dataclass(frozen=True)
class Avail:
    """Seat counts of an event and, when a range was asked, which seats of it are free.

    free, held, booked: the whole event (one EVENT_INFO snapshot). first, count, bitmap: the range
    (count 0 when none was asked); bit i of the bitmap (LSB first) is 1 when seat first + i is free.
    """

    event_id: int
    seats: int
    free: int
    held: int
    booked: int
    first: int = 0
    count: int = 0
    bitmap: bytes = field(default=b"", repr=False)

    def is_free(self, seat: int) -> bool:
        """Whether seat (inside the asked range) was free."""
        i = seat - self.first
        if not 0 <= i < self.count:
            raise ValueError(
                "seat %d is outside the range %d..%d"
                % (seat, self.first, self.first + self.count - 1)
            )
        return bool(self.bitmap[i >> 3] >> (i & 7) & 1)

    @property
    def free_ranges(self) -> List[range]:
        """The free seats of the asked range as maximal runs, e.g. [range(4, 100),
        range(103, 110)]."""
        out: List[range] = []
        start: Optional[int] = None
        for byte_index, byte in enumerate(self.bitmap):
            base = byte_index * 8
            # Whole bytes that continue the current state need no bit walk (padding bits are 0,
            # so a partial last byte is never 0xff).
            if (byte == 0xFF and start is not None) or (byte == 0 and start is None):
                continue
            for i in range(base, min(base + 8, self.count)):
                free = byte >> (i - base) & 1
                if free and start is None:
                    start = i
                elif not free and start is not None:
                    out.append(range(self.first + start, self.first + i))
                    start = None
        if start is not None:
            out.append(range(self.first + start, self.first + self.count))
        return out

    @property
    def range_free(self) -> int:
        """Free seats in the asked range."""
        return sum(bin(b).count("1") for b in self.bitmap)


@dataclass(frozen=True)
class SeatStatus:
    seat: int
    state: str  # "free", "held" or "booked"
    owner_id: int  # the hold id (held) or booking id (booked); 0 when free


@dataclass(frozen=True)
class SlotOwner:
    host: str
    port: int

    def __str__(self) -> str:
        return (
            "[%s]:%d" % (self.host, self.port)
            if ":" in self.host
            else "%s:%d" % (self.host, self.port)
        )


@dataclass(frozen=True)
class SlotMap:
    """Which shard owns each of the 4096 slots; epoch grows on every change."""

    epoch: int
    owners: Tuple[SlotOwner, ...]
    slot_owner: Tuple[int, ...] = field(repr=False)  # 4096 indexes into owners

    def owner_of_slot(self, slot: int) -> SlotOwner:
        return self.owners[self.slot_owner[slot]]


@dataclass(frozen=True)
class RoomPosition:
    """A buyer's place in an event's waiting room (JOIN, POSITION).

    state: "waiting" or "admitted". While waiting: position (1 = next), length (buyers waiting)
    and estimate (seconds, from the measured admission rate; None until there is one). Once
    admitted: token, the 40 bytes to pass as hold(..., token=...), valid until expires_ms."""

    event_id: int
    user: int
    state: str
    position: int
    length: int
    estimate: Optional[float]
    token: Optional[bytes]
    expires_ms: int

    @property
    def admitted(self) -> bool:
        return self.state == "admitted"


@dataclass(frozen=True)
class RoomInfo:
    """An event's waiting room (ROOM_INFO): its parameters, length (waiting buyers), admitted
    buyers shopping, rate (admissions per minute) and estimate (seconds for the last in line)."""

    event_id: int
    enabled: bool
    policy: str  # "requeue" or "drop"
    shoppers_per_seat: float
    admit_ttl: float  # seconds
    queue_max: int
    length: int
    admitted: int
    holding: int
    free: int
    sold_out: bool
    rate: int
    estimate: Optional[float]
    joins: int
    admits: int
    expired: int
    refused: int


@dataclass(frozen=True)
class Section:
    """A named range of an event: numbered seats ("seated") or a general admission area ("ga",
    counted places held by quantity) with its price tier."""

    name: str
    first: int  # its first seat (GA: its first place; places are numbered like seats)
    count: int  # seats, or the GA capacity
    tier: int = 0  # 0..255, the application maps it to a price
    row_width: int = 0  # seats per row of the section; 0 = the event's rows; GA: 0
    kind: str = "seated"  # "seated" or "ga"


@dataclass(frozen=True)
class SectionAvail:
    section: Section
    free: int


@dataclass(frozen=True)
class TierAvail:
    tier: int
    seats: int  # seats and places of the tier's sections
    free: int


@dataclass(frozen=True)
class EventSections:
    """EVENT_SECTIONS: every section with its free count (creation order), and the tiers
    (ascending) with theirs."""

    event_id: int
    sections: Tuple[SectionAvail, ...]
    tiers: Tuple[TierAvail, ...]

    def section(self, name: str) -> SectionAvail:
        for s in self.sections:
            if s.section.name == name:
                return s
        raise KeyError(name)

    def scope_of(self, name: str) -> int:
        """The HOLD scope of section `name` (its index + 1); KeyError when there is none."""
        for i, s in enumerate(self.sections):
            if s.section.name == name:
                return i + 1
        raise KeyError(name)


@dataclass(frozen=True)
class SeatInfo:
    """SEAT_INFO: a seat's state, its owner (hold or booking id) and the owner's user."""

    seat: int
    state: str  # "free", "held" or "booked"
    owner_id: int  # 0 when free
    user_id: int  # 0 when free


@dataclass(frozen=True)
class WatchChange:
    """One pushed change of a watched event (WATCH_CHANGE), or a gap.

    kind: "held", "extended", "booked", "released", "expired", "cancelled", or "gap" (changes were
    dropped because the watcher fell behind: re-sync from avail(); seq is where pushes resume).
    """

    event_id: int
    seq: int
    kind: str
    hold_id: int = 0
    user_id: int = 0
    deadline_ms: int = 0
    seats: Tuple[int, ...] = ()
