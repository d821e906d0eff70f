"""Downloads against a local HTTP server on 127.0.0.1: full, resumed, Range ignored, bad checksum, offline."""

from __future__ import annotations

import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from engine.errors import Cancelled, PhotosiftError
from engine.jobs import CancelToken, Progress
from training.download import (
    ChecksumError,
    DownloadError,
    OfflineError,
    cache_path_for,
    download,
    hub_download,
    sha256_of,
)

DATA = os.urandom(3 * (1 << 20) + 12345)
SHA = hashlib.sha256(DATA).hexdigest()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    data = DATA
    ignore_range = False
    drops = 0  # how many responses to cut off halfway
    ranges: list[str | None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        srv, data = self.server, self.server.data
        asked = self.headers.get("Range")
        srv.ranges.append(asked)
        start = 0
        if asked and not srv.ignore_range:
            start = int(re.match(r"bytes=(\d+)-", asked).group(1))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.drops > 0:
            srv.drops -= 1
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.ranges = []
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def url_of(srv: _Server, name: str = "weights.pth") -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/files/{name}"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_full_download_lands_in_the_cache_and_is_reused(server):
    seen: list[Progress] = []
    path = download(url_of(server), sha256=SHA, progress=seen.append)
    assert path.read_bytes() == DATA
    assert path.parent == Path(os.environ["PHOTOSIFT_CACHE"]) / "downloads" and path == cache_path_for(url_of(server))
    assert not path.with_name(path.name + ".part").exists()
    last = [p for p in seen if p.stage == "download"][-1]
    assert last.done == last.total == len(DATA)
    assert [p.stage for p in seen][-1] == "verify"
    assert download(url_of(server), sha256=SHA) == path and len(server.ranges) == 1  # no second request


def test_interrupted_connection_is_resumed_with_a_range_request(server):
    server.drops = 1
    path = download(url_of(server), sha256=SHA, retry_wait_s=0)
    assert path.read_bytes() == DATA
    assert server.ranges == [None, f"bytes={len(DATA) // 2}-"]


def test_a_later_call_resumes_what_an_earlier_one_left(server):
    server.drops = 1
    with pytest.raises(DownloadError, match="interrupted"):
        download(url_of(server), retries=0)
    part = cache_path_for(url_of(server)).with_name(cache_path_for(url_of(server)).name + ".part")
    assert part.stat().st_size == len(DATA) // 2
    assert download(url_of(server), sha256=SHA).read_bytes() == DATA
    assert server.ranges[-1] == f"bytes={len(DATA) // 2}-"


def test_a_complete_part_file_is_accepted_on_416(server):
    dest = cache_path_for(url_of(server))
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(DATA)
    assert download(url_of(server), sha256=SHA).read_bytes() == DATA


def test_server_that_ignores_range_restarts_from_zero(server):
    server.ignore_range = True
    dest = cache_path_for(url_of(server))
    dest.parent.mkdir(parents=True)
    dest.with_name(dest.name + ".part").write_bytes(b"stale bytes from another attempt" * 100)
    assert download(url_of(server), sha256=SHA).read_bytes() == DATA
    assert server.ranges[0] is not None  # it was asked to resume, and answered with the whole file


def test_checksum_mismatch_deletes_the_download(server):
    with pytest.raises(ChecksumError, match="expected"):
        download(url_of(server), sha256="0" * 64)
    dest = cache_path_for(url_of(server))
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()


def test_http_error_is_a_download_error(server):
    server.data = DATA

    class NotFound(_Handler):
        def do_GET(self) -> None:
            self.send_error(404)

    server.RequestHandlerClass = NotFound
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(url_of(server))


def test_offline_is_one_clear_error_naming_what_still_works():
    start = time.perf_counter()
    with pytest.raises(OfflineError) as info:
        download(f"http://127.0.0.1:{closed_port()}/weights.pth")
    assert time.perf_counter() - start < 10
    msg = str(info.value)
    assert isinstance(info.value, PhotosiftError) and "\n" not in msg
    assert "starter" in msg and "photosift models import PATH --arch ARCH" in msg


def test_unresolvable_host_is_offline():
    with pytest.raises(OfflineError):
        download("http://photosift-no-such-host.invalid/weights.pth", timeout_s=5)


def test_hub_download_offline_maps_to_the_same_error(tmp_path):
    with pytest.raises(OfflineError, match="starter"):
        hub_download("laion/some-model", ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"],
                     endpoint=f"http://127.0.0.1:{closed_port()}", cache_dir=tmp_path / "hub")


def test_file_url_and_plain_path_are_used_in_place(tmp_path):
    src = tmp_path / "my weights.pt"
    src.write_bytes(DATA)
    assert download(src.as_uri(), sha256=SHA) == src
    assert download(str(src)) == src
    with pytest.raises(ChecksumError):
        download(src.as_uri(), sha256="1" * 64)
    assert src.read_bytes() == DATA  # a user's own file is never deleted
    with pytest.raises(DownloadError, match="does not exist"):
        download((tmp_path / "missing.pt").as_uri())


def test_cancel_stops_and_keeps_the_part_for_later(server):
    token = CancelToken()

    def cancel_after_first(p: Progress) -> None:
        if p.stage == "download" and p.done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        download(url_of(server), progress=cancel_after_first, cancel=token)
    dest = cache_path_for(url_of(server))
    assert 0 < dest.with_name(dest.name + ".part").stat().st_size < len(DATA)
    assert download(url_of(server), sha256=SHA).read_bytes() == DATA


def test_sha256_of_matches_hashlib(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(DATA[:1000])
    assert sha256_of(p) == hashlib.sha256(DATA[:1000]).hexdigest()


def _fake_hub(tmp_path: Path, *, offline: bool = False, missing: tuple[str, ...] = ()):
    """Stands in for huggingface_hub.hf_hub_download: 'downloads' by driving the tqdm class it is given."""
    from huggingface_hub.errors import LocalEntryNotFoundError, RemoteEntryNotFoundError

    calls: list[tuple[str, bool]] = []

    def fake(repo_id, filename, *, local_files_only=False, tqdm_class=None, **kw):
        calls.append((filename, local_files_only))
        if local_files_only or offline:
            raise LocalEntryNotFoundError("cannot find the requested files in the local cache")
        if filename in missing:
            raise RemoteEntryNotFoundError("404", response=_Response404())
        out = tmp_path / filename
        with tqdm_class(total=len(DATA), initial=0, desc=filename, unit="B") as bar:
            for i in range(0, len(DATA), 1 << 20):
                bar.update(len(DATA[i:i + (1 << 20)]))
        out.write_bytes(DATA)
        return str(out)

    return fake, calls


class _Response404:
    status_code = 404
    headers: ClassVar[dict[str, str]] = {}
    request = None
    url = "http://hub/404"

    def json(self) -> dict:
        return {}


def test_hub_download_reports_progress_and_skips_missing_files(tmp_path, monkeypatch):
    import huggingface_hub

    import training.download as dl

    fake, _ = _fake_hub(tmp_path, missing=("open_clip_model.safetensors",))
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    monkeypatch.setattr(dl, "_probe", lambda *a, **k: None)
    seen: list[Progress] = []
    path = hub_download("org/model", ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"],
                        progress=seen.append, cache_dir=tmp_path / "hub")
    assert path.name == "open_clip_pytorch_model.bin" and path.read_bytes() == DATA
    assert seen[-1].stage == "download" and seen[-1].done == seen[-1].total == len(DATA)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        hub_download("org/model", ["open_clip_pytorch_model.bin"], cancel=token, cache_dir=tmp_path / "hub")


def test_hub_client_offline_error_maps_to_offline_error(tmp_path, monkeypatch):
    import huggingface_hub

    import training.download as dl

    fake, _ = _fake_hub(tmp_path, offline=True)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    monkeypatch.setattr(dl, "_probe", lambda *a, **k: None)
    with pytest.raises(OfflineError, match="photosift models import PATH --arch ARCH"):
        hub_download("org/model", ["open_clip_model.safetensors"], cache_dir=tmp_path / "hub")
