"""Fixtures of the Python package's tests: one real holdfastd with 2 shards for the session
(through hf-server-ctl, the client tests' harness), clients on it, and fresh event ids.

The package is imported from the source tree (HF_PYTHON_SRC, default python/ of this checkout);
test_install checks that pip installs the same package offline."""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(
    0, os.environ.get("HF_PYTHON_SRC", str(Path(__file__).resolve().parents[2] / "python"))
)

import pytest  # noqa: E402

import hfutil  # noqa: E402
from holdfast import Client, slot_of  # noqa: E402


def pytest_report_header(config: pytest.Config) -> str:
    seed = os.environ.get("HF_SEED")
    if seed is None:
        seed = str(random.SystemRandom().randrange(1 << 32))
        os.environ["HF_SEED"] = seed
    random.seed(int(seed))
    return "holdfast tests: seed %s (replay with HF_SEED=%s)" % (seed, seed)


@pytest.fixture(scope="session")
def server() -> Iterator[hfutil.Server]:
    s = hfutil.start_server(shards=2, durability="none")
    yield s
    hfutil.stop_server(s)


@pytest.fixture
def client(server: hfutil.Server) -> Iterator[Client]:
    c = Client(server.addr(0), timeout=5.0, deadline=20.0)
    yield c
    c.close()


_next_event = [random.SystemRandom().randrange(1 << 40, 1 << 48)]


@pytest.fixture
def new_event() -> Callable[..., int]:
    """new_event(shard=None, shards=2): a never-used event id, on the given shard of a 2-shard
    node's initial map (slot s is owned by shard s % shards)."""

    def make(shard: int | None = None, shards: int = 2) -> int:
        # Bounded: about one id in `shards` lands on the wanted shard.
        for _ in range(10000):
            _next_event[0] += 1
            e = _next_event[0]
            if shard is None or slot_of(e) % shards == shard:
                return e
        raise AssertionError("no event id found for shard %s" % shard)

    return make
