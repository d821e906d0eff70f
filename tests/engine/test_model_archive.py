"""Model archives: packed and installed again without torch; hostile or damaged archives refused, nothing left."""

from __future__ import annotations

import filecmp
import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from engine.model_archive import (
    ModelArchiveError,
    install_model_archive,
    pack_model_folder,
    read_sidecar,
    sidecar_of,
)
from engine.modelfolder import ModelFolder


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def _one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and text
    return text


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_pack_and_install_round_trip(tiny_model: ModelFolder, tmp_path: Path) -> None:
    archive = pack_model_folder(tiny_model.path, tmp_path / "out", name="tiny", version="3")
    assert archive.name == "photosift-tiny-3.tar.gz"
    sha = read_sidecar(archive)
    assert sha == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert sidecar_of(archive).read_text() == f"{sha}  photosift-tiny-3.tar.gz\n"
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert all(n == "photosift-tiny-3" or n.startswith("photosift-tiny-3/") for n in names)
    assert not any("/torch" in n for n in names)  # only what the runtime reads
    # deterministic: the same folder packs to the same bytes
    again = pack_model_folder(tiny_model.path, tmp_path / "again", name="tiny", version="3")
    assert read_sidecar(again) == sha

    dest = tmp_path / "models" / "tiny"
    seen: list = []
    folder = install_model_archive(archive, dest, sha256=sha, model_id="tiny", progress=seen.append)
    assert folder.path == dest and folder.manifest == tiny_model.manifest
    runtime_files = sorted(p.name for p in tiny_model.path.iterdir() if p.name != "torch")
    assert sorted(p.name for p in dest.iterdir()) == runtime_files
    assert all(filecmp.cmp(tiny_model.path / n, dest / n, shallow=False) for n in runtime_files)
    assert {"verify", "unpack"} <= {p.stage for p in seen}
    assert os.listdir(dest.parent) == ["tiny"]  # no unpacking folder left beside it

    from engine.encoder import ClipEncoder, RuntimeConfig

    a = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32")).encode_texts(["a cat", "a rocket"])
    b = ClipEncoder(folder, RuntimeConfig(device="cpu", variant="fp32")).encode_texts(["a cat", "a rocket"])
    assert np.array_equal(a, b)


def test_wrong_checksum_is_refused_and_the_old_folder_kept(tiny_model: ModelFolder, tmp_path: Path) -> None:
    archive = pack_model_folder(tiny_model.path, tmp_path / "out", name="tiny", version="1")
    models = tmp_path / "models"
    (models / "tiny").mkdir(parents=True)
    (models / "tiny" / "keep.txt").write_text("old")
    with pytest.raises(ModelArchiveError) as e:
        install_model_archive(archive, models / "tiny", sha256="0" * 64)
    assert "sha256" in _one_line(e) and "expected " + "0" * 64 in str(e.value)
    assert _listing(models) == ["tiny", "tiny/keep.txt"]


def test_missing_sidecar_is_refused(tiny_model: ModelFolder, tmp_path: Path) -> None:
    archive = pack_model_folder(tiny_model.path, tmp_path / "out", name="tiny", version="1")
    sidecar_of(archive).unlink()
    with pytest.raises(ModelArchiveError) as e:
        read_sidecar(archive)
    assert "checksum" in _one_line(e)


def test_truncated_archive_is_refused_even_with_its_own_checksum(tiny_model: ModelFolder, tmp_path: Path) -> None:
    archive = pack_model_folder(tiny_model.path, tmp_path / "out", name="tiny", version="1")
    data = archive.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) * 2 // 3])
    models = tmp_path / "models"
    models.mkdir()
    # the published checksum catches it first
    with pytest.raises(ModelArchiveError, match="sha256"):
        install_model_archive(cut, models / "tiny", sha256=read_sidecar(archive))
    # a checksum taken of the truncated file itself: the unpacking finds it out, and cleans up
    with pytest.raises(ModelArchiveError) as e:
        install_model_archive(cut, models / "tiny", sha256=hashlib.sha256(cut.read_bytes()).hexdigest())
    assert "damaged or truncated" in _one_line(e)
    assert os.listdir(models) == []


def _hostile(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    path.write_bytes(gzip.compress(buf.getvalue()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, mode
    return info


@pytest.mark.parametrize(("bad", "said"), [
    (_member("m/../escaped.txt"), "outside its folder"),
    (_member("/tmp/photosift-absolute.txt"), "absolute"),
    (_member("other/file.txt"), "outside its folder"),
    (_member("m/link", tarfile.SYMTYPE, "../../escaped.txt"), "a link"),
    (_member("m/hard", tarfile.LNKTYPE, "/etc/passwd"), "a link"),
    (_member("m/dev", tarfile.CHRTYPE), "device"),
    (_member("m/fifo", tarfile.FIFOTYPE), "device"),
])
def test_members_outside_the_folder_are_refused(tiny_model: ModelFolder, tmp_path: Path, bad: tarfile.TarInfo,
                                                said: str) -> None:
    good = [(_member("m", tarfile.DIRTYPE, mode=0o755), b"")]
    good += [(_member(f"m/{p.name}"), p.read_bytes()) for p in sorted(tiny_model.path.iterdir()) if p.is_file()]
    archive = tmp_path / "evil" / "photosift-evil-1.tar.gz"
    archive.parent.mkdir()
    sha = _hostile(archive, [*good[:2], (bad, b"owned"), *good[2:]])
    models = tmp_path / "deep" / "models"
    with pytest.raises(ModelArchiveError) as e:
        install_model_archive(archive, models / "tiny", sha256=sha)
    assert said in _one_line(e)
    assert _listing(tmp_path / "deep") in ([], ["models"])  # nothing unpacked, not even a hidden folder
    assert not (tmp_path / "deep" / "escaped.txt").exists() and not Path("/tmp/photosift-absolute.txt").exists()


def test_an_archive_of_another_model_or_an_incomplete_folder_is_refused(tiny_model: ModelFolder,
                                                                         tmp_path: Path) -> None:
    archive = pack_model_folder(tiny_model.path, tmp_path / "out", name="tiny", version="1")
    models = tmp_path / "models"
    with pytest.raises(ModelArchiveError, match="holds model 'tiny', not 'starter'"):
        install_model_archive(archive, models / "starter", sha256=read_sidecar(archive), model_id="starter")
    partial = tmp_path / "partial.tar.gz"
    members = [(_member("m", tarfile.DIRTYPE, mode=0o755), b""),
               (_member("m/manifest.json"), (tiny_model.path / "manifest.json").read_bytes())]
    with pytest.raises(ModelArchiveError, match="no complete model folder"):
        install_model_archive(partial, models / "tiny", sha256=_hostile(partial, members))
    assert _listing(models) == []
