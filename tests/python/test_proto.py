"""Goal: the package's codec agrees byte for byte with docs/protocol.md: the slot hash test vectors,
the annotated HOLD request and replies of section 10, the AVAIL bit order, the SLOT_MAP layout, and
every reply check of section 9 (short, oversized, wrong magic / flags / reserved, bad counts,
padding bits) raises ProtocolError instead of returning a wrong answer; bad arguments raise before
anything is sent.

Method: pure function calls on the documented bytes, no server."""

from __future__ import annotations

import struct

import pytest

import holdfast._proto as p
from holdfast import HoldfastError, ProtocolError, fmix64, slot_of
from holdfast._core import Options, parse_addr, new_id

VECTORS = [
    (0, 0x0000000000000000, 0),
    (1, 0xB456BCFC34C2CB2C, 2860),
    (2, 0x3ABF2A20650683E7, 999),
    (3, 0x0B5181C509F8D8CE, 2254),
    (42, 0x810879608E4259CC, 2508),
    (1000, 0xAF002C114878DA41, 2625),
    (4096, 0xC980945B89619D73, 3443),
    (4294967296, 0xBA3A9E160A5F1419, 1049),
    (1311768467463790320, 0x18B8C062F6F42398, 920),
    (18446744073709551615, 0x64B5720B4B825F21, 3873),
]


@pytest.mark.parametrize("event_id,hashed,slot", VECTORS)
def test_slot_hash_vectors(event_id: int, hashed: int, slot: int) -> None:
    assert fmix64(event_id) == hashed
    assert slot_of(event_id) == slot


def hexbytes(s: str) -> bytes:
    return bytes.fromhex(
        " ".join(
            line.split("  ", 1)[1] if "  " in line else line for line in s.strip().splitlines()
        )
    )


HOLD_REQUEST = """
0000  48 46 01 04 00 00 00 00 07 00 00 00 00 00 00 00
0010  30 00 00 00 00 00 00 00 2a 00 00 00 00 00 00 00
0020  88 77 66 55 44 33 22 11 e9 03 00 00 00 00 00 00
0030  c0 d4 01 00 00 00 00 00 03 00 00 00 0a 00 00 00
0040  0b 00 00 00 0c 00 00 00
"""

HOLD_REPLY = """
0000  48 46 01 04 01 00 00 00 07 00 00 00 00 00 00 00
0010  20 00 00 00 00 00 00 00 88 77 66 55 44 33 22 11
0020  c0 7c dc 76 9b 01 00 00 03 00 00 00 0a 00 00 00
0030  0b 00 00 00 0c 00 00 00
"""

BEST_REQUEST = """
0000  48 46 01 04 00 00 00 00 08 00 00 00 00 00 00 00
0010  24 00 00 00 00 00 00 00 2a 00 00 00 00 00 00 00
0020  99 00 00 00 00 00 00 00 e9 03 00 00 00 00 00 00
0030  60 ea 00 00 01 00 00 00 04 00 00 00
"""


def test_hold_request_matches_section_10() -> None:
    body = p.body_hold(42, 0x1122334455667788, 1001, 120000, [10, 11, 12], None)
    assert p.encode_frame(p.OP_HOLD, 7, body) == hexbytes(HOLD_REQUEST)
    best = p.body_hold(42, 0x99, 1001, 60000, None, 4)
    assert p.encode_frame(p.OP_HOLD, 8, best) == hexbytes(BEST_REQUEST)


def test_hold_reply_matches_section_10() -> None:
    frame = hexbytes(HOLD_REPLY)
    h = p.decode_reply_header(frame[:24])
    assert (h.opcode, h.status, h.request_id, h.body_size) == (p.OP_HOLD, 0, 7, 32)
    hold = p.decode_hold(frame[24:], 42)
    assert hold.id == 0x1122334455667788
    assert hold.seats == (10, 11, 12)
    assert hold.deadline_ms == 1767225720000
    assert hold.expires_at == 1767225720.0


def test_error_reply_of_section_10() -> None:
    frame = hexbytes(
        """
0000  48 46 01 04 01 00 13 00 07 00 00 00 00 00 00 00
0010  08 00 00 00 00 00 00 00 0b 00 00 00 00 00 00 00
"""
    )
    h = p.decode_reply_header(frame[:24])
    assert p.status_name(h.status) == "SEAT_TAKEN"
    assert p.decode_error_detail(frame[24:]) == 11
    with pytest.raises(ProtocolError):
        p.decode_error_detail(frame[24:31])


def test_avail_bit_order_of_section_6_7() -> None:
    body = bytes.fromhex("0c000000 03000000 00000000 0c000000 0106".replace(" ", ""))
    r = p.decode_avail(body)
    assert (r.seats, r.free, r.first, r.count) == (12, 3, 0, 12)
    from holdfast import Avail

    a = Avail(1, 12, 3, 9, 0, r.first, r.count, r.bitmap)
    assert a.free_ranges == [range(0, 1), range(9, 11)]
    assert [s for s in range(12) if a.is_free(s)] == [0, 9, 10]
    assert a.range_free == 3
    with pytest.raises(ValueError):
        a.is_free(12)
    # A padding bit set in the last byte is malformed.
    with pytest.raises(ProtocolError, match="padding"):
        p.decode_avail(body[:-1] + b"\x16")
    # A bitmap one byte short.
    with pytest.raises(ProtocolError):
        p.decode_avail(body[:-1])


def test_free_ranges_long_runs() -> None:
    from holdfast import Avail

    count = 1000
    free = set(range(3, 500)) | {640} | set(range(900, 1000))
    bm = bytearray((count + 7) // 8)
    for s in free:
        bm[s // 8] |= 1 << (s % 8)
    a = Avail(1, 5000, len(free), 0, 0, 4000, count, bytes(bm))
    assert a.free_ranges == [range(4003, 4500), range(4640, 4641), range(4900, 5000)]


def test_slot_map_example_of_section_6_9() -> None:
    head = bytes.fromhex("0500000000000000 0200 0010".replace(" ", ""))
    owners = b"\x9e\x1b\x09127.0.0.1" + b"\x9f\x1b\x03::1"
    table = struct.pack("<4096H", *([0] * 2048 + [1] * 2048))
    m = p.decode_slot_map(head + owners + table)
    assert m.epoch == 5
    assert [(o.host, o.port) for o in m.owners] == [("127.0.0.1", 7070), ("::1", 7071)]
    assert str(m.owners[1]) == "[::1]:7071"
    assert m.slot_owner[0] == 0 and m.slot_owner[4095] == 1
    assert len(head + owners + table) == 8222
    # An owner index past the list, a wrong slot count, a truncated table.
    bad = head + owners + struct.pack("<4096H", *([2] * 4096))
    with pytest.raises(ProtocolError, match="owner"):
        p.decode_slot_map(bad)
    with pytest.raises(ProtocolError):
        p.decode_slot_map(head[:10] + b"\x00\x08" + owners + table)
    with pytest.raises(ProtocolError):
        p.decode_slot_map(head + owners + table[:-2])


def header(**kw: int) -> bytes:
    f = dict(magic=0x4648, version=1, opcode=1, flags=1, status=0, rid=1, size=8, reserved=0)
    f.update(kw)
    return struct.pack(
        "<HBBHHQII",
        f["magic"],
        f["version"],
        f["opcode"],
        f["flags"],
        f["status"],
        f["rid"],
        f["size"],
        f["reserved"],
    )


@pytest.mark.parametrize(
    "raw,match",
    [
        (header()[:23], "short"),
        (header(magic=0x4649), "magic"),
        (header(version=2), "version"),
        (header(flags=0), "not a reply"),
        (header(flags=3), "not a reply"),
        (header(reserved=1), "reserved"),
        (header(size=p.FRAME_BODY_SIZE_MAX + 1), "exceeds"),
    ],
)
def test_bad_reply_headers(raw: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match) as e:
        p.decode_reply_header(raw)
    assert e.value.status == "PROTOCOL"
    assert isinstance(e.value, HoldfastError)


def test_bad_reply_bodies() -> None:
    with pytest.raises(ProtocolError, match="PING"):
        p.decode_ping(b"\0" * 7)
    with pytest.raises(ProtocolError, match="HOLD"):
        p.decode_hold(b"\0" * 19, 1)
    # 65 seats is past HF_HOLD_SEATS_MAX; 0 seats is not a hold.
    with pytest.raises(ProtocolError, match="65 seats"):
        p.decode_hold(struct.pack("<QQI", 1, 1, 65) + b"\0" * 260, 1)
    with pytest.raises(ProtocolError, match="0 seats"):
        p.decode_hold(struct.pack("<QQI", 1, 1, 0), 1)
    with pytest.raises(ProtocolError, match="HOLD"):
        p.decode_hold(struct.pack("<QQII", 1, 1, 1, 5) + b"\0", 1)
    with pytest.raises(ProtocolError, match="reserved"):
        p.decode_event_info(struct.pack("<QIIIIIIIIII", 1, 10, 0, 0, 1800, 10, 0, 0, 0, 0, 1))
    with pytest.raises(ProtocolError, match="free"):
        p.decode_event_info(struct.pack("<QIIIIIIIIII", 1, 10, 0, 0, 1800, 9, 0, 0, 0, 0, 0))
    entry = struct.pack("<IBBHQ", 3, 3, 0, 0, 0)
    with pytest.raises(ProtocolError, match="entry 0"):
        p.decode_seat_status(struct.pack("<I", 1) + entry, 1)
    with pytest.raises(ProtocolError, match="asked 2"):
        p.decode_seat_status(struct.pack("<I", 1) + struct.pack("<IBBHQ", 3, 0, 0, 0, 0), 2)
    with pytest.raises(ProtocolError, match="STATS"):
        p.decode_stats(struct.pack("<H", 1) + b"\x03abc" + b"\0" * 7)
    with pytest.raises(ProtocolError, match="NUL"):
        p.decode_stats(struct.pack("<H", 1) + b"\x03a\0c" + b"\0" * 8)
    with pytest.raises(ProtocolError, match="RELEASE"):
        p.decode_empty("RELEASE", b"\0")
    stats = p.decode_stats(
        struct.pack("<H", 2)
        + b"\x01a"
        + struct.pack("<Q", 5)
        + b"\x02bc"
        + struct.pack("<Q", 2**64 - 1)
    )
    assert stats == {"a": 5, "bc": 2**64 - 1}


def test_bad_arguments_raise_before_sending() -> None:
    with pytest.raises(ValueError, match="event_id"):
        p.body_event(0)
    with pytest.raises(ValueError, match="event_id"):
        p.body_event(2**64)
    with pytest.raises(TypeError):
        p.body_event("42")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exactly one"):
        p.body_hold(1, 1, 1, 1000, [1], 2)
    with pytest.raises(ValueError, match="exactly one"):
        p.body_hold(1, 1, 1, 1000, None, None)
    with pytest.raises(ValueError, match="number of seats"):
        p.body_hold(1, 1, 1, 1000, list(range(65)), None)
    p.body_hold(1, 1, 1, 1000, list(range(64)), None)
    with pytest.raises(ValueError, match="best"):
        p.body_hold(1, 1, 1, 1000, None, 65)
    with pytest.raises(ValueError, match="hold id"):
        p.body_hold(1, 0, 1, 1000, [1], None)
    with pytest.raises(ValueError, match="ttl"):
        p.ttl_to_ms(0)
    with pytest.raises(ValueError, match="ttl"):
        p.ttl_to_ms(86401)
    assert p.ttl_to_ms(0.0001) == 1
    assert p.ttl_to_ms(1.5) == 1500
    with pytest.raises(ValueError, match="seats"):
        p.body_create_event(1, 0, 0, 0, 0)
    with pytest.raises(ValueError, match="seats"):
        p.body_create_event(1, p.EVENT_SEATS_MAX + 1, 0, 0, 0)
    with pytest.raises(ValueError, match="row_width"):
        p.body_create_event(1, 10, 11, 0, 0)
    with pytest.raises(ValueError, match="hold_lifetime"):
        p.body_create_event(1, 10, 0, 0, 86401)
    with pytest.raises(ValueError, match="count"):
        p.body_avail(1, 0, p.AVAIL_RANGE_MAX + 1)
    with pytest.raises(ValueError, match="number of seats"):
        p.body_seat_status(1, list(range(p.SEAT_STATUS_SEATS_MAX + 1)))
    with pytest.raises(ValueError, match="absolute"):
        p.body_backup("relative/dir")
    with pytest.raises(ValueError):
        p.body_backup("/" + "x" * p.PATH_SIZE_MAX)


def test_addresses_and_options() -> None:
    assert parse_addr("127.0.0.1:7070") == ("127.0.0.1", 7070)
    assert parse_addr("[::1]:7071") == ("::1", 7071)
    assert parse_addr("localhost:1") == ("localhost", 1)
    for bad in (
        "127.0.0.1",
        "::1:7070",
        "h:0",
        "h:65536",
        "h:x",
        ":7070",
        "[::1]7070",
        "x" * 64 + ":1",
    ):
        with pytest.raises(ValueError):
            parse_addr(bad)
    Options().check()
    for bad_kw in (
        {"timeout": 0},
        {"deadline": 601},
        {"retries": -1},
        {"retries": 1001},
        {"pipeline_max": 0},
        {"pipeline_max": 65537},
        {"connect_timeout": True},
    ):
        with pytest.raises(ValueError):
            Options(**bad_kw).check()  # type: ignore[arg-type]
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000 and 0 not in ids and max(ids) < 2**64


def test_new_ids_differ_after_fork() -> None:
    import os

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, str(new_id()).encode())
        os._exit(0)
    os.close(w)
    mine = new_id()
    with os.fdopen(r) as f:
        child = int(f.read())
    _, status = os.waitpid(pid, 0)
    assert status == 0
    assert child != mine and child != 0
