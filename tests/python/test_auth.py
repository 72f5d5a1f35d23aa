"""Goal: Client and AsyncClient present a token to a holdfastd started with --auth-file (every
connection, the map fetch's included), a client token cannot BACKUP (FORBIDDEN), and a missing or
wrong token fails at once with UNAUTHORIZED instead of resending.
Method: a real holdfastd (one shard, durability wal) started here with a 0600 token file on free
loopback ports, stopped by pid; every wait is bounded."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, Tuple

import pytest

from holdfast import AsyncClient, Client, HoldfastError

START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def auth_server() -> Iterator[Tuple[str, Path]]:
    exe = os.environ.get("HF_HOLDFASTD")
    if not exe:
        pytest.skip("HF_HOLDFASTD is not set (run through meson)")
    tmp = Path(tempfile.mkdtemp(prefix="hf-py-auth-"))
    tokens = tmp / "tokens"
    tokens.write_text("client py-client-token\nadmin py-admin-token\n")
    tokens.chmod(0o600)
    port = _free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--listen",
            "127.0.0.1:%d" % port,
            "--shards",
            "1",
            "--durability",
            "wal",
            "--data-dir",
            str(tmp / "data"),
            "--no-pin",
            "--log-level",
            "warn",
            "--auth-file",
            str(tokens),
            "--backup-root",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    addr = "127.0.0.1:%d" % port
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            Client(addr, token="py-admin-token", deadline=1.0).close()
            break
        except HoldfastError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                proc.wait(timeout=10)
                raise
            time.sleep(0.05)
    try:
        yield addr, tmp
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_client_token(auth_server: Tuple[str, Path]) -> None:
    addr, tmp = auth_server
    with Client(addr, token="py-client-token") as c:
        c.create_event(11, seats=10)
        h = c.hold(11, user=1, seats=[1])
        assert h.seats == (1,)
        with pytest.raises(HoldfastError) as e:
            c.backup(str(tmp / "bk"))
        assert e.value.status == "FORBIDDEN"
    with Client(addr, token="py-admin-token") as c:
        c.backup(str(tmp / "bk"))
    assert (tmp / "bk").is_dir()


def test_no_or_wrong_token(auth_server: Tuple[str, Path]) -> None:
    addr, _ = auth_server
    for token in (None, "py-client-tokeN"):
        start = time.monotonic()
        with pytest.raises(HoldfastError) as e:
            Client(addr, token=token)
        assert e.value.status == "UNAUTHORIZED"
        assert time.monotonic() - start < 2.0  # refused at once, not resent until the deadline


def test_async_token(auth_server: Tuple[str, Path]) -> None:
    addr, _ = auth_server

    async def run() -> None:
        async with AsyncClient(addr, token="py-client-token") as c:
            await c.create_event(12, seats=10)
            h = await c.hold(12, user=2, best=2)
            assert len(h.seats) == 2
        with pytest.raises(HoldfastError) as e:
            async with AsyncClient(addr, token="wrong") as c:
                await c.ping()
        assert e.value.status == "UNAUTHORIZED"

    asyncio.run(run())


def test_token_checked() -> None:
    with pytest.raises(ValueError):
        Client("127.0.0.1:1", token="has space")
    with pytest.raises(ValueError):
        Client("127.0.0.1:1", token="x" * 257)
