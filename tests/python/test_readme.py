"""Goal: the Python examples of README.md and python/README.md run as written and print what their
comments say, so the READMEs cannot go stale.

Method: take every ```python block of both files, point its address at the session's holdfastd
and its event ids (42, 43) at fresh events, run it in a fresh interpreter with the package from
the source tree, and compare its output with the `# ...` comments on its print lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Callable, List, Tuple

import pytest

import hfutil

READMES = [hfutil.REPO / "README.md", hfutil.REPO / "python" / "README.md"]
RUN_TIMEOUT_S = 60


def blocks() -> List[Tuple[Path, str]]:
    return [
        (f, b) for f in READMES for b in re.findall(r"```python\n(.*?)```", f.read_text(), re.S)
    ]


def expected_output(code: str) -> List[str]:
    return [
        line.split("# ", 1)[1].strip()
        for line in code.splitlines()
        if "print(" in line and "# " in line
    ]


@pytest.mark.parametrize(
    "index",
    range(len(blocks())),
    ids=["%s-%d" % (f.relative_to(hfutil.REPO), i) for i, (f, _) in enumerate(blocks())],
)
def test_readme_example(index: int, server: hfutil.Server, new_event: Callable[..., int]) -> None:
    _, original = blocks()[index]
    code = original.replace("127.0.0.1:7070", server.addr(0))
    for old in ("42", "43"):
        code = re.sub(r"\b%s\b" % old, str(new_event()), code)
    env = dict(os.environ, PYTHONPATH=os.environ.get("HF_PYTHON_SRC", str(hfutil.REPO / "python")))
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == expected_output(original)
