"""Guard against a PySide6 regression: Qt timers with Python slots beside a busy Python thread.

PySide6 6.12.0 aborts such a process ("none_dealloc: deallocating None"); the GUI runs indexing and
thumbnail decoding on Python threads, so this must hold for any PySide6 we allow.
"""

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow  # 8 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_python_threads_beside_qt_timers_do_not_corrupt_the_interpreter():
    probe = Path(__file__).with_name("qt_threads_probe.py")
    for _ in range(2):
        r = subprocess.run([sys.executable, str(probe), "4", "2"], capture_output=True, text=True, timeout=60,
                           check=False)
        assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]
