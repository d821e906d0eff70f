"""Fetch model weights into the download cache: resumable HTTP(S), local files, and the Hugging Face hub.

HTTP downloads go to `<name>.part` beside the target and resume with a Range request after an
interruption (a server that ignores Range sends the whole file again, and the part is restarted). A
known sha256 is checked before the file takes its final name; a mismatch deletes it and raises
ChecksumError. Being offline is one typed error, OfflineError, whose message says what still works.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock

from engine.errors import Cancelled, PhotosiftError
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.model_archive import file_sha256
from engine.paths import download_cache_dir

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
REPORT_EVERY_S = 0.1
USER_AGENT = "photosift/0.1 (model download)"
OFFLINE_HINT = ("Photosift still works offline: `photosift models use starter` installs the offline starter model "
                "(no download), and `photosift models import PATH --arch ARCH` installs weights you already have.")


class DownloadError(PhotosiftError):
    """Weights could not be fetched (HTTP error, interrupted too often, unsupported source)."""


class OfflineError(DownloadError):
    """The source could not be reached at all: no network, DNS failure, connection refused."""

    def __init__(self, where: str, reason: str = "") -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(f"cannot reach {where}{detail}; this computer seems to be offline. {OFFLINE_HINT}")
        self.where = where


class ChecksumError(DownloadError):
    """A downloaded or local file does not have the expected sha256."""


class _Interrupted(Exception):
    """The connection broke mid-file; the part file is kept for a resume."""


# -- local sources --------------------------------------------------------------------------
def local_source(source: str | Path) -> Path | None:
    """The local path behind a `file://` URL or a plain path; None for network URLs."""
    if isinstance(source, Path):
        return source
    parsed = urllib.parse.urlparse(source)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(urllib.parse.unquote(parsed.path)))
    if parsed.scheme in ("http", "https"):
        return None
    if len(parsed.scheme) <= 1:  # a relative/absolute path, or a Windows drive letter
        return Path(source).expanduser()
    raise DownloadError(f"unsupported download source {source!r}: use http(s)://, file:// or a path")


def sha256_of(path: Path, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None) -> str:
    """Hex sha256 of a file, reported as stage 'verify' (the one hasher: engine.model_archive.file_sha256)."""
    return file_sha256(Path(path), progress, cancel)


def _check_sha(path: Path, expected: str | None, progress: ProgressCallback, cancel: CancelToken | None,
               what: str) -> None:
    if not expected:
        return
    got = sha256_of(path, progress, cancel)
    if got != expected.lower():
        raise ChecksumError(f"{what} has sha256 {got}, expected {expected.lower()}")


# -- HTTP -----------------------------------------------------------------------------------
def cache_path_for(url: str) -> Path:
    """Where a URL lands in the download cache: its file name prefixed by a short hash of the URL."""
    name = Path(urllib.parse.urlparse(url).path).name
    name = re.sub(r"[^A-Za-z0-9._+-]", "_", name)[:120] or "download"
    tag = hashlib.sha256(url.encode()).hexdigest()[:10]
    return download_cache_dir() / "downloads" / f"{tag}-{name}"


def download(url: str | Path, dest: Path | None = None, *, sha256: str | None = None,
             progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None,
             retries: int = 3, retry_wait_s: float = 1.0, timeout_s: float = 30.0) -> Path:
    """Fetch `url` (http, https, file:// or a path) and return the local file.

    Local sources are verified and returned where they are (never copied, never deleted). Network
    sources land in `dest` (default: the download cache); an existing complete file is reused.
    """
    local = local_source(url)
    if local is not None:
        if not local.is_file():
            raise DownloadError(f"{local} does not exist or is not a file")
        _check_sha(local, sha256, progress, cancel, str(local))
        return local
    url = str(url)
    dest = Path(dest) if dest is not None else cache_path_for(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with exclusive_lock(part.with_name(part.name + ".lock"), cancel):
        if dest.is_file():
            try:
                _check_sha(dest, sha256, progress, cancel, str(dest))
                return dest
            except ChecksumError:
                log.warning("cached %s does not match its checksum; downloading it again", dest)
                dest.unlink()
        _fetch_with_retries(url, part, progress, cancel, retries, retry_wait_s, timeout_s)
        try:
            _check_sha(part, sha256, progress, cancel, f"the download of {url}")
        except ChecksumError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, dest)
    return dest


@contextmanager
def exclusive_lock(lock_path: Path, cancel: CancelToken | None = None) -> Iterator[None]:
    """One holder of `lock_path` across processes; waiting checks the cancel token."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(lock_path))
    while True:
        if cancel is not None:
            cancel.check()
        try:
            lock.acquire(timeout=0.5)
            break
        except filelock.Timeout:
            continue
    try:
        yield
    finally:
        lock.release()


def _fetch_with_retries(url: str, part: Path, progress: ProgressCallback, cancel: CancelToken | None,
                        retries: int, retry_wait_s: float, timeout_s: float) -> None:
    attempt = 0
    while True:
        try:
            _fetch(url, part, progress, cancel, timeout_s)
            return
        except _Interrupted as e:
            attempt += 1
            kept = part.stat().st_size if part.exists() else 0
            if attempt > retries:
                raise DownloadError(f"the download of {url} was interrupted ({e}); {kept} bytes are kept, "
                                    "run the command again to resume") from None
            log.warning("download interrupted (%s); resuming from byte %d", e, kept)
            time.sleep(retry_wait_s * attempt)


def _content_range(value: str | None) -> tuple[int | None, int | None]:
    """(start, total) from 'bytes 100-199/1000' or 'bytes */1000'; None where unknown."""
    m = re.match(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)", value or "")
    if not m:
        return None, None
    start = int(m.group(1)) if m.group(1) else None
    total = int(m.group(2)) if m.group(2) != "*" else None
    return start, total


def _open(url: str, have: int, timeout_s: float) -> Any:
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    host = urllib.parse.urlparse(url).netloc or url
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s)
    except urllib.error.HTTPError:
        raise
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLError):
            raise DownloadError(f"secure connection to {host} failed: {e.reason}") from None
        raise OfflineError(host, str(getattr(e.reason, "strerror", None) or e.reason)) from None
    except (TimeoutError, ConnectionError) as e:
        raise OfflineError(host, str(e) or type(e).__name__) from None


def _fetch(url: str, part: Path, progress: ProgressCallback, cancel: CancelToken | None, timeout_s: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, have, timeout_s)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            _, total = _content_range(e.headers.get("Content-Range"))
            if total == have:
                return  # the part already holds the whole file
            part.unlink()  # a stale part longer than the file: start again
            return _fetch(url, part, progress, cancel, timeout_s)
        raise DownloadError(f"{url}: the server answered HTTP {e.code} {e.reason}") from None
    with resp:
        start, total = _content_range(resp.headers.get("Content-Range"))
        if resp.status == 206:
            if not have or start != have:
                if not have:
                    raise DownloadError(f"{url}: the server sent part of the file without being asked to")
                resp.close()
                part.unlink()  # a range we did not ask for: start again
                return _fetch(url, part, progress, cancel, timeout_s)
            mode, done = "ab", have
        else:
            if have:
                log.info("server ignored the Range request for %s; downloading from the start", url)
            mode, done = "wb", 0
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        _copy_body(resp, part, mode, done, total or 0, progress, cancel)


def _copy_body(resp: Any, part: Path, mode: str, done: int, total: int, progress: ProgressCallback,
               cancel: CancelToken | None) -> None:
    clock = ProgressClock("download", total, progress)
    last = 0.0
    with open(part, mode) as f:
        while True:
            if cancel is not None:
                cancel.check()
            try:
                chunk = resp.read(CHUNK_BYTES)
            except (http.client.IncompleteRead, OSError) as e:
                f.write(getattr(e, "partial", b"") or b"")
                raise _Interrupted(str(e) or type(e).__name__) from None
            if not chunk:
                break
            f.write(chunk)
            done += len(chunk)
            if time.perf_counter() - last >= REPORT_EVERY_S:
                clock.report(done, part.name.removesuffix(".part"))
                last = time.perf_counter()
    clock.report(done, part.name.removesuffix(".part"))
    if total and done < total:
        raise _Interrupted(f"the connection closed after {done} of {total} bytes")


# -- Hugging Face hub ---------------------------------------------------------------------------
def hub_cache_dir() -> Path:
    return download_cache_dir() / "hub"


def hub_download(repo_id: str, filenames: Sequence[str], *, progress: ProgressCallback = ignore_progress,
                 cancel: CancelToken | None = None, revision: str | None = None, endpoint: str | None = None,
                 cache_dir: Path | None = None) -> Path:
    """The first of `filenames` that `repo_id` has, fetched through huggingface_hub into our cache."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, LocalEntryNotFoundError

    if os.environ.get("HF_HUB_DISABLE_TELEMETRY") == "1":  # training/__init__.py: no user-agent extras, no
        constants.HF_HUB_DISABLE_TELEMETRY = True  # agent-harness lookup, even on a client imported before
    cache = cache_dir or hub_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for name in filenames:  # already downloaded: no network needed at all
        try:
            return Path(hf_hub_download(repo_id, name, revision=revision, cache_dir=str(cache),
                                        local_files_only=True))
        except (LocalEntryNotFoundError, OSError):
            continue
    where = f"the Hugging Face hub ({repo_id})"
    _probe(endpoint or _hub_endpoint(), where)
    missing: list[str] = []
    for name in filenames:
        if cancel is not None:
            cancel.check()
        try:
            with _quiet("huggingface_hub"):
                return Path(hf_hub_download(
                    repo_id, name, revision=revision, cache_dir=str(cache), endpoint=endpoint,
                    library_name="photosift", tqdm_class=_tqdm_reporting(progress, cancel)))  # type: ignore[arg-type]
        except Cancelled:
            raise
        except LocalEntryNotFoundError as e:
            raise OfflineError(where, _first_line(e)) from None
        except EntryNotFoundError:
            missing.append(name)
        except HfHubHTTPError as e:
            raise DownloadError(f"the Hugging Face hub refused {repo_id}/{name}: {_first_line(e)}") from None
        except OSError as e:  # connection errors the hub client did not wrap, or offline mode
            raise OfflineError(where, _first_line(e)) from None
    raise DownloadError(f"the Hugging Face repository {repo_id} has none of {', '.join(missing)}")


def _hub_endpoint() -> str:
    from huggingface_hub import constants

    return str(constants.ENDPOINT)


def _probe(url: str, where: str, timeout_s: float = 5.0) -> None:
    """Fail fast, and quietly, when the host cannot be reached: the hub client would retry for ~20 s,
    logging each attempt. Skipped behind a proxy, where a direct connection proves nothing."""
    if urllib.request.getproxies():
        return
    parsed = urllib.parse.urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname or "", port), timeout=timeout_s).close()
    except OSError as e:
        raise OfflineError(where, e.strerror or str(e) or type(e).__name__) from None


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Silence a library's retry chatter for one call; failures still surface as exceptions."""
    logger = logging.getLogger(logger_name)
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _tqdm_reporting(progress: ProgressCallback, cancel: CancelToken | None) -> type:
    """A silent tqdm class that forwards byte counts as Progress and stops when cancelled."""
    from tqdm.auto import tqdm

    class _Reporting(tqdm):  # type: ignore[misc,valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            kwargs.pop("name", None)
            self._done = int(kwargs.get("initial") or 0)
            self._clock = ProgressClock("download", int(kwargs.get("total") or 0), progress)
            self._desc = str(kwargs.get("desc") or "")
            self._last = 0.0
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            if cancel is not None:
                cancel.check()
            now = time.perf_counter()
            if now - self._last >= REPORT_EVERY_S or (self._clock.total and self._done >= self._clock.total):
                self._clock.report(self._done, self._desc)
                self._last = now
            return super().update(n)

    return _Reporting


def folder_bytes(path: Path) -> int:
    """Bytes of all regular files under `path` (symlinks not followed, so a blob counts once)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            p = os.path.join(root, name)
            if not os.path.islink(p):
                try:
                    total += os.lstat(p).st_size
                except OSError:
                    pass
    return total


def clear_cached(url: str) -> None:
    """Forget a cached network download (after its weights were installed into a model folder)."""
    if local_source(url) is not None:
        return
    path = cache_path_for(str(url))
    for p in (path, path.with_name(path.name + ".part"), path.with_name(path.name + ".part.lock")):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
