"""Nothing leaves the machine, seen where native code acts: the system calls of real processes.

onnxruntime's native telemetry resolves a Microsoft host about 9 s after a session is created, through
libc, which no patch of Python's socket module can see; so each process here runs under strace, and any
socket that is not a Unix-domain one (or any connect or send to an internet address) fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_jpeg

REPO = Path(__file__).resolve().parents[1]
STRACE = shutil.which("strace")
# What ONNX Runtime's telemetry did before engine.onnx_runtime: its first lookup came about 9 s after the session.
LONG_ENOUGH_S = 14

pytestmark = pytest.mark.skipif(STRACE is None, reason="strace is not installed (.ci/run installs it)")


_CALL = re.compile(r"^(?:(\d+)\s+)?(\w+)\((\d+)?")
_LOOPBACK_PROBE = re.compile(r'^bind\(\d+, \{sa_family=AF_INET6?, sin6?_port=htons\(0\),.*"(?:::1|127\.0\.0\.1)"')


def _network_calls(trace: Path) -> list[str]:
    """Every system call that reaches or asks about a network: a connect or send to an internet address (a DNS
    lookup included: it goes to 127.0.0.53), and every internet socket put to any use (an ioctl reading a
    network card's address, a listening bind) except one: a socket bound to the loopback address on port 0 and
    closed, which is how urllib3 (under `requests`, which RapidOCR imports) asks at import whether IPv6 exists.
    No packet leaves with that."""
    calls, open_sockets = [], {}
    for line in trace.read_text(errors="replace").splitlines():
        m = _CALL.match(line)
        if not m:
            continue
        pid, name, fd = m.group(1) or "", m.group(2), m.group(3)
        body = line[m.start(2):]
        if name == "socket" and re.search(r"\bsocket\((?!AF_UNIX|AF_LOCAL)", body):
            handle = re.search(r"= (\d+)$", line)
            open_sockets[(pid, handle.group(1) if handle else "?")] = [line]
            continue
        key = (pid, fd)
        if key in open_sockets:
            if name == "close":
                uses = open_sockets.pop(key)
                if not (len(uses) == 2 and _LOOPBACK_PROBE.match(uses[1].split(None, 1)[-1] if pid else uses[1])):
                    calls += uses
            else:
                open_sockets[key].append(line)
            continue
        if name in ("connect", "sendto", "sendmsg", "sendmmsg", "bind") and re.search(r"sin6?_addr|AF_INET", body):
            calls.append(line)
    return calls + [line for uses in open_sockets.values() for line in uses]


def _traced(args: list[str], trace: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    calls = "trace=socket,connect,bind,sendto,sendmsg,sendmmsg,ioctl,close"
    cmd = [STRACE, "-f", "-qq", "-o", str(trace), "-e", calls, *args]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    if "ptrace" in done.stderr and "Operation not permitted" in done.stderr:
        pytest.skip("this machine does not allow ptrace")
    return done


@pytest.fixture
def env(tmp_path: Path, tiny_model) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    e = os.environ.copy()
    e.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONPATH=str(REPO),
             PHOTOSIFT_LIBRARY=str(tmp_path / "library"), QT_QPA_PLATFORM="offscreen")
    e.pop("ORT_DISABLE_TELEMETRY", None)  # the app must turn it off itself
    return e


@pytest.mark.slow  # 6 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_index_and_search_make_no_network_system_call(tmp_path, env, sample_arrays):
    from PIL import Image

    photos = tmp_path / "photos"
    for name in ("astronaut", "coffee", "chelsea"):
        photos.mkdir(exist_ok=True)
        Image.fromarray(sample_arrays[name]).save(photos / f"{name}.jpg")
    write_jpeg(photos / "red.jpg")
    cli = [sys.executable, "-m", "desktop_app"]
    from engine.text_in_photos import text_installed

    reading = (["index", "--text"], ["search", "text:cat"]) if text_installed() else ()  # RapidOCR's models too
    for i, args in enumerate((["add", str(photos)], ["index", "--model", "tiny"], ["search", "a cat", "--all"],
                              ["similar", str(photos / "red.jpg"), "--all"], *reading)):
        trace = tmp_path / f"cli{i}.trace"
        done = _traced([*cli, *args], trace, env)
        assert done.returncode == 0, done.stderr[-2000:]
        assert _network_calls(trace) == [], args


@pytest.mark.slow  # 15 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_a_long_lived_onnx_session_makes_no_network_system_call(tmp_path, env, tiny_model):
    """The app keeps its sessions open (the window, watch folders): stay past the telemetry's first beat."""
    code = ("import time\n"
            "from engine.encoder import ClipEncoder, RuntimeConfig\nfrom engine.modelfolder import ModelFolder\n"
            f"enc = ClipEncoder(ModelFolder.load({str(tiny_model.path)!r}), RuntimeConfig(device='cpu'))\n"
            "enc.encode_texts(['a dog on a beach'])\n"
            f"time.sleep({LONG_ENOUGH_S})\n"
            "enc.encode_texts(['kids at sunset'])\n")
    trace = tmp_path / "session.trace"
    done = _traced([sys.executable, "-c", code], trace, env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _network_calls(trace) == []
    assert not (Path(env["HOME"]) / ".cache" / "Microsoft").exists()  # no device id written either


@pytest.mark.slow  # 21 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_exporting_a_model_reads_no_network_card(tmp_path, env):
    """`models import`, fine-tuning and the starter build export and quantize towers: onnx named its temp
    files with uuid1(), whose MAC address libuuid read through an AF_INET socket."""
    code = ("from pathlib import Path\n"
            "from training.tiny import export_tiny\n"
            f"export_tiny(Path({str(tmp_path / 'tiny')!r}), variants=('fp32', 'int8'))\n")
    trace = tmp_path / "export.trace"
    done = _traced([sys.executable, "-c", code], trace, env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _network_calls(trace) == []


@pytest.mark.parametrize(("code", "network"), [
    ("import requests", False),  # urllib3's IPv6 probe: a socket bound to ::1, port 0, closed
    ("import socket\ntry:\n    socket.getaddrinfo('example.com', 80)\nexcept OSError:\n    pass", True),  # DNS
    # reading a network card's address through an internet socket, as libuuid's uuid1() does
    ("import fcntl, socket, struct\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
     "fcntl.ioctl(s.fileno(), 0x8927, struct.pack('256s', b'lo'))\ns.close()", True),
    ("import socket\ns = socket.socket(socket.AF_INET6)\ns.bind(('::1', 8765))\ns.close()", True),  # a server
], ids=["ipv6-probe", "dns", "mac-address", "listening"])
def test_the_watch_tells_a_probe_from_network_use(tmp_path, code, network):
    trace = tmp_path / "t.trace"
    done = _traced([sys.executable, "-c", code], trace, os.environ.copy(), timeout=60)
    assert done.returncode == 0, done.stderr[-1000:]
    assert bool(_network_calls(trace)) == network
