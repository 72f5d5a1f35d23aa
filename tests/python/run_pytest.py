"""Runs pytest for the meson suite 'python' and maps its exit codes onto meson's: 0 passes,
5 ("no tests collected") becomes a failure, a missing pytest and anything else a failure."""

import sys

try:
    import pytest
except ImportError:
    print(
        "pytest is not installed for %s (scripts/install-deps.sh installs python3-pytest)"
        % sys.executable
    )
    sys.exit(1)

rc = int(pytest.main(sys.argv[1:]))
if rc == 5:
    print("pytest collected no tests: counted as a failure")
    sys.exit(1)
sys.exit(rc)
