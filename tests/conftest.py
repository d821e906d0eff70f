"""Shared fixtures: isolated library/model/cache folders, a tiny exported model, real sample photos.

Nothing a test runs may reach the real user's folders (their library, models, the list of libraries, caches,
settings): pytest_configure points every place Photosift (and Qt, ONNX Runtime, send2trash...) looks for them
into a session folder before any fixture runs, session- and module-scoped ones included; `isolated_dirs` then
gives each test its own library and cache on top.
"""

from __future__ import annotations

import multiprocessing.util
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Where the user's own folders are, read before the session moves them (tests/test_isolation.py checks them).
SESSION_ENV = ("PHOTOSIFT_LIBRARY", "PHOTOSIFT_MODELS", "PHOTOSIFT_CACHE", "HOME", "XDG_DATA_HOME",
               "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME")
_saved_env: dict[str, str | None] = {}
session_home: Path | None = None


def _real_user_dirs() -> dict[str, Path]:
    import platformdirs

    from engine.paths import APP_NAME

    return {"data": Path(platformdirs.user_data_dir(APP_NAME)), "cache": Path(platformdirs.user_cache_dir(APP_NAME)),
            "config": Path(platformdirs.user_config_dir(APP_NAME)), "home": Path.home()}


real_user_dirs: dict[str, Path] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Runs before collection and before any fixture: a module-scoped fixture that opens a library (and so
    writes the list of libraries next to the models) must already see the session's folders."""
    global session_home
    config.addinivalue_line("markers", "slow: a long end-to-end run (real models, a fresh environment, a watcher, "
                                       "strace; 1.5 s or more): run by default (CI included); `-m \"not slow\"` or "
                                       "PHOTOSIFT_FAST_TESTS=1 leaves them out for the edit-test loop")
    real_user_dirs.update(_real_user_dirs())
    session_home = Path(tempfile.mkdtemp(prefix="photosift-tests-")).resolve()
    places = {"PHOTOSIFT_LIBRARY": "library", "PHOTOSIFT_MODELS": "models", "PHOTOSIFT_CACHE": "cache",
              "HOME": "home", "XDG_DATA_HOME": "home/.local/share", "XDG_CACHE_HOME": "home/.cache",
              "XDG_CONFIG_HOME": "home/.config", "XDG_STATE_HOME": "home/.local/state"}
    for name in SESSION_ENV:
        _saved_env[name] = os.environ.get(name)
        os.environ[name] = str(session_home / places[name])
    (session_home / "home").mkdir()
    _saved_env["PHOTOSIFT_MODEL"] = os.environ.pop("PHOTOSIFT_MODEL", None)
    # this process's multiprocessing temp folder, made now in the system temp dir: made by the first index a
    # test runs, it would go inside that test's library (engine.indexer.use_pool_temp_dir), which pytest deletes
    # when the test passes, before multiprocessing cleans its folder up at exit (a traceback after the summary)
    multiprocessing.util.get_temp_dir()


def pytest_unconfigure(config: pytest.Config) -> None:
    for name, value in _saved_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    if session_home is not None:
        shutil.rmtree(session_home, ignore_errors=True)


@pytest.fixture(scope="session")
def user_folders() -> dict[str, Path]:
    """The real user's folders as they were before the session moved them ("data", "cache", "config", "home"),
    and "session": the folder that stands in for them during the tests."""
    assert session_home is not None
    return {**real_user_dirs, "session": session_home}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("PHOTOSIFT_FAST_TESTS") != "1":
        return
    skip = pytest.mark.skip(reason="slow: skipped because PHOTOSIFT_FAST_TESTS=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_model(models_root: Path):
    """A tiny random open_clip model exported like a real one (fp32 + int8)."""
    from training.tiny import export_tiny

    return export_tiny(models_root / "tiny", variants=("fp32", "int8"))


@pytest.fixture(scope="session")
def starter_build(tmp_path_factory: pytest.TempPathFactory):
    """The real offline starter model, built once per session (about a minute on 2 cores): its folder and
    the progress reports of the build. For checks that need a model that knows what a cat is."""
    from training.starter import build_starter

    seen: list = []
    folder = build_starter(tmp_path_factory.mktemp("starter-build") / "starter", progress=seen.append)
    return folder, seen


@pytest.fixture
def own_models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder of this test alone: the shared session folder must not see its imports and removals."""
    root = tmp_path / "models"
    monkeypatch.setenv("PHOTOSIFT_MODELS", str(root))
    return root


@pytest.fixture
def onnx_session_events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records, in order, each time ONNX Runtime's telemetry is turned off and each session created."""
    import engine.onnx_runtime as gate
    from engine.onnx_runtime import ort

    events: list[str] = []
    real_session = ort.InferenceSession
    monkeypatch.setattr(gate, "_events_off", False)
    monkeypatch.setattr(ort, "disable_telemetry_events", lambda: events.append("telemetry off"), raising=False)
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: events.append("session") or real_session(*a, **k))
    return events


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, models_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOTOSIFT_LIBRARY", str(tmp_path / "library"))
    monkeypatch.setenv("PHOTOSIFT_MODELS", str(models_root))
    monkeypatch.setenv("PHOTOSIFT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PHOTOSIFT_MODEL", raising=False)


def _sample_arrays() -> dict[str, np.ndarray]:
    from skimage import data

    out = {}
    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
                 "retina", "camera", "page", "colorwheel"):
        a = getattr(data, name)()
        if a.ndim == 3 and a.shape[2] == 4:
            a = a[..., :3]
        out[name] = a
    return out


@pytest.fixture(scope="session")
def sample_arrays() -> dict[str, np.ndarray]:
    return _sample_arrays()


@pytest.fixture
def photo_dir(tmp_path: Path, sample_arrays: dict[str, np.ndarray]) -> Path:
    """A folder of real photos (scikit-image samples) in a couple of sub-folders and formats."""
    root = tmp_path / "photos"
    (root / "space").mkdir(parents=True)
    (root / "home").mkdir()
    for name, a in sample_arrays.items():
        sub = "space" if name in ("rocket", "hubble_deep_field", "astronaut") else "home"
        Image.fromarray(a).save(root / sub / f"{name}.jpg", quality=90)
    Image.fromarray(sample_arrays["coffee"]).save(root / "home" / "coffee.png")
    return root


def write_jpeg(path: Path, color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48),
               exif: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, color)
    if exif is not None:
        img.save(path, "JPEG", exif=exif)
    else:
        img.save(path, "JPEG")
    return path


def store_vectors(cat, model_id: str, vectors: np.ndarray) -> list[int]:
    """One catalog photo per row of `vectors` (stored as given), under a root "/p"; returns their ids."""
    root = cat.add_root("/p")
    ids = [cat.insert_photo(root_id=root.id, path=f"/p/{i}.jpg", raw_path=None, size=1, mtime=1.0,
                            fingerprint=str(i)) for i in range(len(vectors))]
    cat.embeddings.put(model_id, ids, vectors)
    return ids


def gps_exif(lat: float, lon: float, taken: str | None = None) -> bytes:
    """EXIF bytes with a GPS position (degrees, minutes, seconds as cameras write them) and a date taken."""
    def dms(v: float) -> tuple[float, float, float]:
        v = abs(v)
        d, m = int(v), int(abs(v) * 60) % 60
        return float(d), float(m), round((v - d - m / 60) * 3600, 4)

    exif = Image.Exif()
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken  # DateTimeOriginal, "YYYY:MM:DD HH:MM:SS"
    exif.get_ifd(0x8825).update({1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)})
    return exif.tobytes()
