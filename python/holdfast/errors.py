"""The exceptions of the holdfast client.

HoldfastError is the one class to catch. Its .status is the protocol's status name
("SEAT_TAKEN", "NO_HOLD", ...; docs/protocol.md section 7) when the engine refused, or one of the
client's own names when no usable answer came back:

- "TIMEOUT"      no answer within the call's deadline (after resends): the outcome is unknown;
                 resend with the same ids (it is safe) or check with event_info / seat_status.
- "UNAVAILABLE"  no connection could be made to the shard (refused, unreachable).
- "PROTOCOL"     a reply did not decode (ProtocolError): the connection was dropped.
"""

from __future__ import annotations

from typing import Optional


class HoldfastError(Exception):
    """A request that did not succeed.

    status: the status name (str); code: the wire status code (int), or None for the client's own
    statuses; detail: the reply's u64 detail (the offending seat for SEAT_TAKEN, the map epoch for
    MOVED, ...; 0 when none); opcode: the request's opcode name ("HOLD"), or "" when unknown.
    """

    def __init__(
        self,
        status: str,
        message: str,
        code: Optional[int] = None,
        detail: int = 0,
        opcode: str = "",
    ) -> None:
        super().__init__("%s: %s" % (status, message) if message else status)
        self.status = status
        self.code = code
        self.detail = detail
        self.opcode = opcode
        self.message = message


class ProtocolError(HoldfastError):
    """A reply that breaks docs/protocol.md (short, oversized, wrong layout, wrong request id)."""

    def __init__(self, message: str) -> None:
        super().__init__("PROTOCOL", message)


class HoldfastTimeout(HoldfastError):
    """No answer within the deadline: the outcome is unknown (docs/protocol.md section 8.7)."""

    def __init__(self, message: str, opcode: str = "") -> None:
        super().__init__("TIMEOUT", message, opcode=opcode)


class HoldfastUnavailable(HoldfastError):
    """No connection to the shard could be made within the deadline."""

    def __init__(self, message: str, opcode: str = "") -> None:
        super().__init__("UNAVAILABLE", message, opcode=opcode)
