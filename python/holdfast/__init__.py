"""holdfast: the Python client of the holdfast seat-reservation engine.

    from holdfast import Client, AsyncClient, HoldfastError
    c = Client("127.0.0.1:7070")
    c.create_event(42, seats=50000, row_width=50, user_limit=6)
    h = c.hold(42, user=7, seats=[1, 2, 3], ttl=300)
    c.confirm(42, h.id)

Pure Python over the wire protocol of docs/protocol.md (no compiled code): Client blocks,
AsyncClient pipelines many requests per connection under asyncio. Both route by slot, follow
MOVED, back off on BUSY / TRY_AGAIN and resend with the same ids after a lost answer. Errors are
HoldfastError with .status set to the protocol's status name.
"""

from ._core import Options, new_id
from ._proto import fmix64, slot_of, status_name
from .aio import AsyncClient
from .client import Client
from .errors import HoldfastError, HoldfastTimeout, HoldfastUnavailable, ProtocolError
from .watch import AsyncWatch, Watch
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
    Section,
    SectionAvail,
    SlotMap,
    SlotOwner,
    TierAvail,
    WatchChange,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncWatch",
    "Avail",
    "Booking",
    "Client",
    "EventInfo",
    "EventSections",
    "Hold",
    "HoldfastError",
    "HoldfastTimeout",
    "HoldfastUnavailable",
    "Options",
    "ProtocolError",
    "RoomInfo",
    "RoomPosition",
    "SeatInfo",
    "SeatStatus",
    "Section",
    "SectionAvail",
    "SlotMap",
    "SlotOwner",
    "TierAvail",
    "Watch",
    "WatchChange",
    "fmix64",
    "new_id",
    "slot_of",
    "status_name",
]
