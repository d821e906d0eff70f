"""Checkpoints made to exhaust memory are refused before torch reads them, a refusal never repeats torch's
advice to load with weights_only=False, and a model id with a trailing newline is no id.

The bombs are real files: a 2 MB zip whose one record inflates to 2 GiB (torch allocates a record's declared
size), and an old-format pickle that declares a 4 GiB tensor in 400 bytes. They are read in a child process
whose address space is capped at 1 GiB above what importing torch took.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
import torch

from desktop_app.cli import main
from engine.errors import ModelFolderError
from engine.modelfolder import check_model_id
from training.checkpoint_files import CheckpointError, load_checkpoint_state
from training.tiny import TINY_CFG, build_tiny_clip

pytestmark = pytest.mark.usefixtures("own_models_dir")  # imports stay in this test

BOMB_BYTES = 2 << 30


def _tensor_pickle(numel: int, legacy: bool) -> bytes:
    """A pickle of {'w': <float tensor of numel elements>} as torch.save writes it, its storage named by a
    persistent id (zip format: 5 fields; the old format: 6)."""
    storage = object()

    class Tensor:
        def __reduce__(self):
            return (torch._utils._rebuild_tensor_v2,
                    (storage, 0, (numel,), (1,), False, collections.OrderedDict()))

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if obj is not storage:
                return None
            return ("storage", torch.FloatStorage, "0", "cpu", numel) + ((None,) if legacy else ())

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"w": Tensor()})
    return buf.getvalue()


def _zip(path: Path, records: list[tuple[str, bytes, int, int, int]]) -> None:
    """A zip written field by field: (name, bytes as stored, method, crc, size) per record; sizes below 4 GiB."""
    out, central = bytearray(), bytearray()
    for name, data, method, crc, size in records:
        offset = len(out)
        fields = (20, 0, method, 0, 0, crc, len(data), size, len(name), 0)
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields) + name.encode() + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, offset) + name.encode()
    tail = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(records), len(records), len(central), len(out), 0)
    path.write_bytes(bytes(out + central + tail))


def write_zip_bomb(path: Path) -> Path:
    """A torch.save-like archive whose data/0 record is BOMB_BYTES of zeros deflated to about 2 MB."""
    chunk = bytes(1 << 24)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)  # each further chunk deflates alike
    data = block * (BOMB_BYTES // len(chunk)) + deflate.flush()
    crc = 0
    for _ in range(BOMB_BYTES // len(chunk)):
        crc = zlib.crc32(chunk, crc)

    def stored(name: str, data: bytes) -> tuple:
        return (f"archive/{name}", data, 0, zlib.crc32(data), len(data))

    _zip(path, [stored("data.pkl", _tensor_pickle(BOMB_BYTES // 4, legacy=False)), stored("byteorder", b"little"),
                ("archive/data/0", data, 8, crc, BOMB_BYTES), stored("version", b"3\n")])
    return path


def write_legacy_bomb(path: Path) -> Path:
    """An old-format (pre-zip) torch.save file declaring a 4 GiB tensor, with 64 bytes of it."""
    numel = 1 << 30
    with path.open("wb") as f:
        for head in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True,
                                                    "type_sizes": {"short": 2, "int": 4, "long": 4}}):
            pickle.dump(head, f, protocol=2)
        f.write(_tensor_pickle(numel, legacy=True))
        pickle.dump(["0"], f, protocol=2)
        f.write(struct.pack("<q", numel) + bytes(64))
    return path


READ_UNDER_A_CAP = textwrap.dedent("""
    import resource, sys
    from pathlib import Path
    import torch  # noqa: F401  (its libraries mapped before the cap is measured)
    from training.checkpoint_files import CheckpointError, load_checkpoint_state

    mapped = int(next(l for l in open("/proc/self/status") if l.startswith("VmSize:")).split()[1]) * 1024
    cap = mapped + (1 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        load_checkpoint_state(Path(sys.argv[1]))
        print("LOADED")
    except CheckpointError as e:
        print("REFUSED", e)
    print("GREW_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss)
""")


@pytest.mark.parametrize("write", [write_zip_bomb, write_legacy_bomb], ids=["zip", "legacy-pickle"])
@pytest.mark.slow  # 5 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_a_checkpoint_bomb_is_refused_before_torch_allocates_it(tmp_path, write):
    path = write(tmp_path / "bomb.pt")
    assert path.stat().st_size < 3 << 20
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", READ_UNDER_A_CAP, str(path)], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    refused = [line for line in done.stdout.splitlines() if line.startswith("REFUSED")]
    assert refused and "its contents declare" in refused[0] and f"file of {path.stat().st_size:,} bytes" in refused[0]
    grew_kb = int(done.stdout.split("GREW_KB")[1])
    assert grew_kb < 100 << 10, f"reading the bomb took {grew_kb} KiB"


@pytest.mark.slow  # 5 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_the_zip_bomb_is_a_real_one(tmp_path):
    """Its record really inflates to what it declares (the refusal above is not of a broken zip)."""
    import zipfile

    with zipfile.ZipFile(write_zip_bomb(tmp_path / "bomb.pt")) as z:
        assert z.testzip() is None  # every record inflates to its declared size with its CRC
        assert z.getinfo("archive/data/0").file_size == BOMB_BYTES


def test_real_checkpoints_of_both_formats_still_load(tmp_path):
    state = build_tiny_clip().state_dict()
    torch.save(state, tmp_path / "zip.pt")
    torch.save(state, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    for name in ("zip.pt", "legacy.pt"):
        loaded = load_checkpoint_state(tmp_path / name)
        assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)


def test_a_pickle_that_asks_for_code_is_refused_without_torchs_advice(tmp_path, capsys, own_models_dir):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2), "x": Payload()}, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint_state(path)
    message = str(e.value)
    assert "is refused" in message and "never runs code" in message and "\n" not in message
    for advice in ("weights_only", "trusted", "safe_globals", "allowlist"):
        assert advice not in message
    arch = tmp_path / "photosift-test-tiny-evil.json"
    arch.write_text(json.dumps(TINY_CFG))
    assert main(["models", "import", str(path), "--arch", str(arch), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "is refused" in err and "weights_only" not in err
    assert not marker.exists() and not (own_models_dir / "evil").exists()


@pytest.mark.parametrize("bad", ["tiny\n", "tiny\r", "\ntiny", "ti ny", ""])
def test_a_model_id_with_a_newline_is_no_id(bad):
    with pytest.raises(ModelFolderError, match="invalid model id"):
        check_model_id(bad)


def test_models_import_and_use_refuse_an_id_with_a_trailing_newline(tmp_path, capsys, own_models_dir):
    path = tmp_path / "plain.pt"
    torch.save(build_tiny_clip().state_dict(), path)
    arch = tmp_path / "photosift-test-tiny-nl.json"
    arch.write_text(json.dumps(TINY_CFG))
    assert main(["models", "import", str(path), "--arch", str(arch), "--id", "mine\n", "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert "invalid model id 'mine\\n'" in err and len(err.strip().splitlines()) == 1
    assert not any(own_models_dir.glob("mine*"))
    (tmp_path / "photos").mkdir()
    assert main(["add", str(tmp_path / "photos")]) == 0  # `models use` needs a library to switch
    capsys.readouterr()
    assert main(["models", "use", "tiny\n"]) == 1
    assert "invalid model id" in capsys.readouterr().err


def test_query_and_browse_ids_do_not_take_a_trailing_newline():
    from desktop_app.browse_state import _SIMILAR
    from engine.query import _PHOTO

    assert _PHOTO.match("id:12") and not _PHOTO.match("id:12\n")
    assert _SIMILAR.match("similar:12") and not _SIMILAR.match("similar:12\n")


def test_a_file_that_is_no_pickle_is_damaged_without_torchs_advice(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a checkpoint at all")  # torch's weights-only reader fails on it with its advice
    with pytest.raises(CheckpointError, match="could not be read as weights") as e:
        load_checkpoint_state(path)
    assert "weights_only" not in str(e.value) and "trusted" not in str(e.value) and "\n" not in str(e.value)
