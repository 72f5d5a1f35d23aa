"""Goal: the package is fully typed: mypy --strict finds no issue in python/holdfast, and a
program using the interface names type-checks with the types the README promises (ints for ids,
tuples of seats, floats for expiry).

Method: run Debian's mypy (scripts/install-deps.sh installs it) on the package and on a small
program written to a temp dir, with its cache in the temp dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import hfutil

SRC = Path(os.environ.get("HF_PYTHON_SRC", str(hfutil.REPO / "python")))
MYPY_TIMEOUT_S = 180

USER_PROGRAM = """
import asyncio
from typing import Tuple
from holdfast import AsyncClient, Client, HoldfastError, Hold

def use(c: Client) -> Tuple[int, Tuple[int, ...], float, str]:
    h: Hold = c.hold(42, user=7, seats=[1, 2, 3], ttl=300)
    c.confirm(42, h.id)
    try:
        c.release(42, h.id)
    except HoldfastError as e:
        return h.id, h.seats, h.expires_at, e.status
    return h.id, h.seats, h.expires_at, ""

async def use_async(c: AsyncClient) -> int:
    a = await c.avail(42, first=0, count=10)
    return a.free + len(a.free_ranges)
"""


def mypy(tmp_path: Path, *targets: str) -> None:
    probe = subprocess.run([sys.executable, "-c", "import mypy"], capture_output=True)
    assert probe.returncode == 0, (
        "mypy is not installed for %s (scripts/install-deps.sh installs it)" % sys.executable
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "cache"),
            *targets,
        ],
        capture_output=True,
        text=True,
        timeout=MYPY_TIMEOUT_S,
        env=dict(os.environ, MYPYPATH=str(SRC)),
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_package_is_strictly_typed(tmp_path: Path) -> None:
    user = tmp_path / "user_program.py"
    user.write_text(USER_PROGRAM)
    mypy(tmp_path, str(SRC / "holdfast"), str(user))


def test_formatted_with_black() -> None:
    """The Python sources keep black's layout at the repository's 100 columns (pyproject.toml)."""
    probe = subprocess.run([sys.executable, "-c", "import black"], capture_output=True)
    assert probe.returncode == 0, "black is not installed (scripts/install-deps.sh installs it)"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "black",
            "--check",
            "--config",
            str(SRC / "pyproject.toml"),
            str(SRC),
            str(Path(__file__).resolve().parent),
        ],
        capture_output=True,
        text=True,
        timeout=MYPY_TIMEOUT_S,
    )
    assert r.returncode == 0, r.stderr
