"""Goal: `pip install ./python` works offline on Debian 12 the ways python/README.md says: in a
venv made by Debian's python3-venv, with build isolation fed from Debian's wheel directory
(/usr/share/python-wheels) or without build isolation; and with Debian's system pip
(--break-system-packages, here into a scratch prefix so the test changes nothing system-wide). The
installed package imports by its interface names, ships py.typed, and talks to holdfastd.

Method: copy python/ to a temp dir (pip builds in the source tree), create the venv with
/usr/bin/python3 -m venv, install with --no-index and no PIP_* settings from the environment, and
run a short program with the venv's interpreter against the session's holdfastd. The
no-build-isolation venv recipe runs with HF_LONG=1 only (it repeats the first one's checks and
costs 10-15 s more)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import hfutil

SYSTEM_PYTHON = "/usr/bin/python3"
WHEELS = "/usr/share/python-wheels"
PIP_TIMEOUT_S = 120
SRC = Path(os.environ.get("HF_PYTHON_SRC", str(hfutil.REPO / "python")))

PROGRAM = """
import sys, holdfast, os
from holdfast import Client, AsyncClient, HoldfastError
assert os.path.exists(os.path.join(os.path.dirname(holdfast.__file__), "py.typed"))
assert "-packages" in holdfast.__file__, holdfast.__file__
c = Client(sys.argv[1])
print("epoch", c.ping())
try:
    c.event_info(2**64 - 1)
except HoldfastError as e:
    print("status", e.status)
"""


def clean_env() -> dict:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PIP_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(cmd: list, **kw: object) -> subprocess.CompletedProcess:  # type: ignore[type-arg]
    r = subprocess.run(  # type: ignore[call-overload]
        cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, env=clean_env(), **kw
    )
    assert r.returncode == 0, "%s failed (%d):\n%s\n%s" % (
        " ".join(map(str, cmd)),
        r.returncode,
        r.stdout[-2000:],
        r.stderr[-3000:],
    )
    return r


@pytest.fixture
def src_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "python"
    shutil.copytree(SRC, dst, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    return dst


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One venv for the module (creating one costs seconds); each test uninstalls what it put in."""
    return make_venv(tmp_path_factory.mktemp("venv"))


def make_venv(tmp_path: Path) -> Path:
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("no %s" % SYSTEM_PYTHON)
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import ensurepip, venv"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("python3-venv is not installed (scripts/install-deps.sh installs it)")
    venv = tmp_path / "venv"
    run([SYSTEM_PYTHON, "-m", "venv", str(venv)])
    return venv


def check_program(python: str, server: hfutil.Server, extra_env: dict | None = None) -> None:
    env = clean_env()
    env.update(extra_env or {})
    r = subprocess.run(
        [python, "-c", PROGRAM, server.addr(0)],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT_S,
        env=env,
        cwd="/",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["epoch", "1", "status", "NO_EVENT"]


def test_venv_install_with_debian_wheels(venv: Path, src_copy: Path, server: hfutil.Server) -> None:
    if not os.path.isdir(WHEELS) or not any(f.startswith("wheel-") for f in os.listdir(WHEELS)):
        pytest.fail(
            "%s has no wheel-*.whl: install python3-wheel-whl (scripts/install-deps.sh)" % WHEELS
        )
    pip = str(venv / "bin" / "pip")
    run([pip, "install", "--no-index", "--find-links", WHEELS, str(src_copy)])
    check_program(str(venv / "bin" / "python"), server)
    run([pip, "uninstall", "-y", "holdfast"])


@pytest.mark.skipif(
    os.environ.get("HF_LONG") != "1", reason="long form: HF_LONG=1 (the same venv, a second recipe)"
)
def test_venv_install_without_build_isolation(
    venv: Path, src_copy: Path, server: hfutil.Server
) -> None:
    pip = str(venv / "bin" / "pip")
    wheel = sorted(f for f in os.listdir(WHEELS) if f.startswith("wheel-"))[-1]
    run([pip, "install", "--no-index", os.path.join(WHEELS, wheel)])
    run([pip, "install", "--no-index", "--no-build-isolation", str(src_copy)])
    check_program(str(venv / "bin" / "python"), server)
    run([pip, "uninstall", "-y", "holdfast", "wheel"])


def test_system_pip_install(tmp_path: Path, src_copy: Path, server: hfutil.Server) -> None:
    prefix = tmp_path / "prefix"
    run(
        [
            SYSTEM_PYTHON,
            "-m",
            "pip",
            "install",
            "--break-system-packages",
            "--no-index",
            "--no-build-isolation",
            "--prefix",
            str(prefix),
            str(src_copy),
        ]
    )
    site = next(prefix.glob("**/site-packages"), None) or next(prefix.glob("**/dist-packages"))
    check_program(SYSTEM_PYTHON, server, {"PYTHONPATH": str(site)})
