"""Model folders packed as one versioned archive, and installed from one without torch (just files).

An archive is a gzip-compressed tar `photosift-<name>-<version>.tar.gz` holding one folder,
`photosift-<name>-<version>/`, with exactly the files the runtime reads (engine.modelfolder: manifest,
preprocess config, tokenizer, ONNX towers), plus a sidecar `<archive>.sha256` in `sha256sum` format.
Packing is deterministic (sorted names, fixed times and owners, gzip without a timestamp), so the same
folder gives the same bytes and the same checksum.

Installing checks the archive's sha256 before it reads a single member, then refuses, with one line and
without writing anything, an archive whose members are not plain files and folders inside its one folder
(absolute names, `..`, links, devices, fifos), and unpacks with tarfile's "data" filter into a hidden folder
beside the destination that replaces it only once the model folder in it loads (engine.atomic.atomic_folder).
A truncated or damaged archive fails there too and leaves nothing behind.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import tarfile
import time
import zlib
from pathlib import Path, PurePosixPath

from engine.atomic import atomic_file, atomic_folder, write_text_atomic
from engine.errors import ModelFolderError, PhotosiftError
from engine.jobs import CancelToken, ProgressCallback, ProgressClock, ignore_progress
from engine.modelfolder import ModelFolder

SUFFIX = ".tar.gz"
SHA_SUFFIX = ".sha256"
CHUNK = 1 << 20
# Far above any model the registry knows (MCIP ViT-L is ~1.7 GB with its int8 and fp16 towers): a bound on
# what a hostile archive can make us write, checked before unpacking.
MAX_UNPACKED_BYTES = 16 << 30
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")


class ModelArchiveError(PhotosiftError):
    """A model archive is refused: wrong checksum, damaged or truncated, or members outside its folder."""


def archive_name(name: str, version: str) -> str:
    """`photosift-<name>-<version>.tar.gz`; the folder inside is the same without the suffix."""
    if not _VERSION_RE.match(name) or not _VERSION_RE.match(version):
        raise ModelArchiveError(f"invalid archive name or version {name!r} {version!r}")
    return f"photosift-{name}-{version}{SUFFIX}"


def sidecar_of(archive: Path) -> Path:
    return Path(archive).with_name(Path(archive).name + SHA_SUFFIX)


def parse_sidecar(text: str, what: str = "the checksum file") -> str:
    """The sha256 of a `sha256sum`-style line ("<64 hex>  <file name>"; the name is optional)."""
    fields = text.strip().split()
    sha = fields[0].lower() if fields else ""
    if not _SHA_RE.match(sha):
        raise ModelArchiveError(f"{what} holds no sha256 (expected 64 hex digits and the file name)")
    return sha


def read_sidecar(archive: Path) -> str:
    path = sidecar_of(archive)
    try:
        text = path.read_text(encoding="ascii", errors="replace")[:4096]
    except FileNotFoundError:
        raise ModelArchiveError(f"{path.name} is missing beside {Path(archive).name}: an archive is installed "
                                "only with its checksum") from None
    except OSError as e:
        raise ModelArchiveError(f"cannot read {path}: {e.strerror or e}") from None
    return parse_sidecar(text, str(path))


def file_sha256(path: Path, progress: ProgressCallback = ignore_progress, cancel: CancelToken | None = None) -> str:
    """Hex sha256 of a file, reported as stage 'verify'."""
    path = Path(path)
    clock = ProgressClock("verify", path.stat().st_size, progress)
    h, done, last = hashlib.sha256(), 0, 0.0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            if cancel is not None:
                cancel.check()
            h.update(chunk)
            done += len(chunk)
            if time.perf_counter() - last >= 0.1:
                clock.report(done, path.name)
                last = time.perf_counter()
    clock.report(done, path.name)
    return h.hexdigest()


# -- packing ----------------------------------------------------------------------------------
def pack_model_folder(folder: Path, out_dir: Path, *, name: str, version: str,
                      exclude: tuple[str, ...] = ("torch",)) -> Path:
    """Pack a model folder (validated first) into `out_dir/photosift-<name>-<version>.tar.gz` with its sidecar.

    Top-level entries named in `exclude` stay out (by default the torch/ side, which only fine-tuning reads).
    Returns the archive's path; both files are written atomically.
    """
    folder = Path(folder)
    ModelFolder.load(folder)  # never pack a folder the runtime could not open
    file_name = archive_name(name, version)
    top = file_name.removesuffix(SUFFIX)
    files: list[tuple[str, Path]] = []
    for root, dirs, names in os.walk(folder):
        rel_root = Path(root).relative_to(folder)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in exclude]
            names = [n for n in names if n not in exclude]
        dirs.sort()
        for n in sorted(names):
            p = Path(root) / n
            if p.is_symlink() or not p.is_file():
                raise ModelArchiveError(f"{p} is not a plain file; a model archive holds plain files only")
            files.append(((rel_root / n).as_posix(), p))
    out = Path(out_dir) / file_name
    with atomic_file(out) as tmp:
        _write_tar(tmp, top, sorted(files))
    write_text_atomic(sidecar_of(out), f"{file_sha256(out)}  {file_name}\n")
    return out


def _write_tar(path: Path, top: str, files: list[tuple[str, Path]]) -> None:
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info(top, tarfile.DIRTYPE, 0))
        made: set[str] = set()
        for rel, path in files:
            for parent in reversed(PurePosixPath(rel).parents[:-1]):
                if str(parent) not in made:
                    made.add(str(parent))
                    tar.addfile(_info(f"{top}/{parent}", tarfile.DIRTYPE, 0))
            with open(path, "rb") as f:
                tar.addfile(_info(f"{top}/{rel}", tarfile.REGTYPE, path.stat().st_size), f)


def _info(name: str, kind: bytes, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mtime = kind, size, 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


# -- installing -------------------------------------------------------------------------------
def install_model_archive(archive: Path, dest: Path, *, sha256: str, model_id: str | None = None,
                          progress: ProgressCallback = ignore_progress,
                          cancel: CancelToken | None = None) -> ModelFolder:
    """Install the model folder inside `archive` at `dest` (replacing what is there only on success).

    `sha256` is required: the archive is hashed before it is opened. `model_id`, when given, must be the id
    in the packed manifest. Raises ModelArchiveError (one line) and leaves `dest` as it was otherwise.
    """
    archive = Path(archive)
    expected = parse_sidecar(sha256, "the expected checksum")
    try:
        got = file_sha256(archive, progress, cancel)
    except OSError as e:
        raise ModelArchiveError(f"cannot read the model archive {archive}: {e.strerror or e}") from None
    if got != expected:
        raise ModelArchiveError(f"the model archive {archive.name} has sha256 {got}, expected {expected}: "
                                "refused (damaged, truncated or not the published file)")
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = _checked_members(tar.getmembers(), archive.name)
            _check_space(members, Path(dest), archive.name)
            clock = ProgressClock("unpack", len(members), progress)
            with atomic_folder(Path(dest), "unpack") as work:
                for i, member in enumerate(members):
                    if cancel is not None:
                        cancel.check()
                    tar.extract(member, work, set_attrs=False, filter="data")
                    clock.report(i + 1, archive.name)
                _check_folder(work, model_id, archive.name)
    except tarfile.FilterError as e:  # our own checks come first; this is the second line of defence
        raise ModelArchiveError(f"the model archive {archive.name} is refused: {e}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ModelArchiveError(f"the model archive {archive.name} is damaged or truncated ({_first_line(e)}); "
                                "nothing was installed") from None
    return ModelFolder.load(Path(dest))


def _checked_members(members: list[tarfile.TarInfo], what: str) -> list[tarfile.TarInfo]:
    """The members with their top folder stripped; refuses anything but plain files and folders in one folder."""
    if not members:
        raise ModelArchiveError(f"the model archive {what} is empty")
    top = _parts(members[0].name, what)[0]
    out = []
    for m in members:
        parts = _parts(m.name, what)
        if parts[0] != top:
            raise ModelArchiveError(f"the model archive {what} holds {m.name!r} outside its folder {top}/: refused")
        if not (m.isreg() or m.isdir()):
            kind = "a link" if (m.issym() or m.islnk()) else "a device or special file"
            raise ModelArchiveError(f"the model archive {what} holds {kind} ({m.name!r}): refused")
        if len(parts) == 1:
            if not m.isdir():
                raise ModelArchiveError(f"the model archive {what} holds a file {m.name!r} where its folder should be")
            continue
        out.append(m.replace(name="/".join(parts[1:]), deep=False))
    return out


def _parts(name: str, what: str) -> tuple[str, ...]:
    if "\\" in name or name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ModelArchiveError(f"the model archive {what} holds an absolute or odd path {name!r}: refused")
    parts = tuple(p for p in PurePosixPath(name).parts if p not in ("", "."))
    if not parts or ".." in parts:
        raise ModelArchiveError(f"the model archive {what} holds a path outside its folder {name!r}: refused")
    return parts


def _check_space(members: list[tarfile.TarInfo], dest: Path, what: str) -> None:
    total = sum(m.size for m in members if m.isreg())
    if total > MAX_UNPACKED_BYTES:
        raise ModelArchiveError(f"the model archive {what} would unpack to {total} bytes: refused")
    parent = dest.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    free = shutil.disk_usage(parent).free
    if total > free:
        raise ModelArchiveError(f"the model archive {what} needs {total >> 20} MiB and {parent} has "
                                f"{free >> 20} MiB free")


def _check_folder(work: Path, model_id: str | None, what: str) -> None:
    try:
        folder = ModelFolder.load(work)
    except ModelFolderError as e:
        raise ModelArchiveError(f"the model archive {what} holds no complete model folder: "
                                f"{str(e).replace(str(work), 'the archive')}") from None
    if model_id is not None and folder.model_id != model_id:
        raise ModelArchiveError(f"the model archive {what} holds model '{folder.model_id}', not '{model_id}'")


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__

