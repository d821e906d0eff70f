"""ONNX Runtime, imported with its telemetry off: the only module of ours that imports onnxruntime.

onnxruntime 1.31 ships a 1DS telemetry client in its native module: about 9 s after the first session is
created, and every ~10 s after, it resolves mobile.events.data.microsoft.com (a DNS query from native
code, which Python's socket module never sees), and it keeps a device id under ~/.cache/Microsoft/. The
Python call `disable_telemetry_events()` does not stop it; the client reads ORT_DISABLE_TELEMETRY when the
native module loads. So the variable is set here, before the import, and every other module gets `ort`
from here (tests/test_no_network.py watches the system calls; tests/test_architecture.py the imports).
"""

from __future__ import annotations

import logging
import os
import sys

log = logging.getLogger(__name__)

_ALREADY_LOADED = "onnxruntime" in sys.modules
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

import onnxruntime as ort  # noqa: E402

if _ALREADY_LOADED:  # someone imported it before us: its native telemetry may already be running
    log.warning("onnxruntime was imported before engine.onnx_runtime; its telemetry may be on in this process")

_events_off = False


def disable_telemetry() -> None:
    """Also turn off the telemetry events the Python API controls (ETW on Windows), once per process."""
    global _events_off
    if _events_off:
        return
    off = getattr(ort, "disable_telemetry_events", None)
    if off is not None:
        off()
    _events_off = True


__all__ = ["disable_telemetry", "ort"]
