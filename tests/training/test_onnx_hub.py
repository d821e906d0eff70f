"""Registry models installed from a published ONNX export (Immich's hub layout) against a fake hub on 127.0.0.1:
each file checked by its published sha256 (or git blob id), resumed, mapped onto Photosift's model folder, and
run without torch; tampered files refused with nothing left."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from engine.modelfolder import ModelFolder
from training import install, onnx_hub, registry
from training.download import ChecksumError

REPO = Path(__file__).resolve().parents[2]
HUB_REPO = "immich-app/tiny__test"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
SEED = 3


def _clip_tokenizer_json(path: Path) -> None:
    """An HF tokenizer.json of CLIP's BPE built from open_clip's vocabulary, as the hub's CLIP tokenizers are."""
    import open_clip
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import BPE

    simple = open_clip.tokenizer.SimpleTokenizer()
    names = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {names.get(k, k): v for k, v in simple.encoder.items()}
    with gzip.open(open_clip.tokenizer.default_bpe()) as f:
        merges = [tuple(line.split()) for line in f.read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]]
    tok = Tokenizer(BPE(vocab=vocab, merges=merges, continuing_subword_prefix="", end_of_word_suffix="</w>",
                        fuse_unk=False, unk_token="<|endoftext|>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Replace(Regex(r"\s+"), " "),
                                           normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"), behavior="removed",
                             invert=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.RobertaProcessing(("<|endoftext|>", 49407), ("<|startoftext|>", 49406),
                                                      trim_offsets=False, add_prefix_space=False)
    tok.save(str(path))


def _export_like_immich(model, out: Path) -> None:
    """Towers as Immich exports them: fixed batch of one, int32 text ids padded to 77, normalised outputs."""
    import warnings

    import torch

    class Tower(torch.nn.Module):
        def __init__(self, encode: str) -> None:
            super().__init__()
            self.model, self.encode = model, encode

        def forward(self, x):
            return getattr(self.model, self.encode)(x, normalize=True)

    (out / "visual").mkdir(parents=True)
    (out / "textual").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Tower("encode_image").eval(), (torch.randn(1, 3, 64, 64),),
                          str(out / "visual" / "model.onnx"), input_names=["image"], output_names=["embedding"],
                          opset_version=18, dynamo=False)
        torch.onnx.export(Tower("encode_text").eval(), (torch.ones(1, 77, dtype=torch.int32),),
                          str(out / "textual" / "model.onnx"), input_names=["text"], output_names=["embedding"],
                          opset_version=18, dynamo=False)


@pytest.fixture(scope="module")
def hub_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    from training.tiny import TINY_CFG, build_tiny_clip

    root = tmp_path_factory.mktemp("hub")
    _export_like_immich(build_tiny_clip(seed=SEED), root)
    (root / "config.json").write_text(json.dumps(TINY_CFG))
    (root / "visual" / "preprocess_cfg.json").write_text(json.dumps(
        {"size": [64, 64], "mode": "RGB", "mean": MEAN, "std": STD, "interpolation": "bicubic",
         "resize_mode": "shortest", "fill_color": 0}))
    _clip_tokenizer_json(root / "textual" / "tokenizer.json")
    (root / "textual" / "tokenizer_config.json").write_text(json.dumps({"pad_token": "<|endoftext|>"}))
    (root / "README.md").write_text("a fake Immich export of the tiny test model\n")
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class _Hub(ThreadingHTTPServer):
    daemon_threads = True
    files: dict[str, bytes]
    published: dict[str, bytes]  # what the API describes (differs from `files` where a test tampers)
    requests: list[tuple[str, str | None]]
    drops: ClassVar[dict[str, int]] = {}


class _HubHandler(BaseHTTPRequestHandler):
    server: _Hub

    def do_GET(self) -> None:
        srv = self.server
        path = urllib.parse.urlparse(self.path).path
        srv.requests.append((path, self.headers.get("Range")))
        if path == f"/api/models/{HUB_REPO}/revision/main":
            siblings = []
            for name, data in sorted(srv.published.items()):
                s = {"rfilename": name, "size": len(data),
                     "blobId": hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()}
                if name.endswith(".onnx"):  # LFS files: the hub publishes their sha256
                    s["lfs"] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
                siblings.append(s)
            return self._send(json.dumps({"id": HUB_REPO, "sha": COMMIT, "siblings": siblings}).encode())
        m = re.match(rf"^/{re.escape(HUB_REPO)}/resolve/{COMMIT}/(.+)$", path)
        if not m or urllib.parse.unquote(m.group(1)) not in srv.files:
            return self._send(b"not found", 404)
        name = urllib.parse.unquote(m.group(1))
        data, start = srv.files[name], 0
        asked = self.headers.get("Range")
        if asked:
            start = int(re.match(r"bytes=(\d+)-", asked).group(1))
        body = data[start:]
        self.send_response(206 if asked else 200)
        if asked:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if srv.drops.get(name, 0) > 0:
            srv.drops[name] -= 1
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True
            return
        self.wfile.write(body)

    def _send(self, body: bytes, code: int = 200) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(hub_files, monkeypatch, tmp_path) -> Iterator[_Hub]:
    srv = _Hub(("127.0.0.1", 0), _HubHandler)
    srv.files, srv.published, srv.requests, srv.drops = dict(hub_files), dict(hub_files), [], {}
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.server_port}")
    reg = {"models": [{"id": "hub-tiny", "kind": "hf-hub", "arch": "ViT-B-32",
                       "weights": {"pretrained": "laion2b_s34b_b79k", "hf_hub": "laion/not-downloaded"},
                       "onnx": {"hf_hub": HUB_REPO, "revision": "main", "layout": "immich"},
                       "licence": "MIT", "size_bytes": None, "sha256": None,
                       "description": "the tiny model published as an ONNX export"}]}
    (tmp_path / "models.json").write_text(json.dumps(reg))
    monkeypatch.setattr(registry, "REGISTRY_FILE", tmp_path / "models.json")
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


def _cache_files() -> list[Path]:
    cache = Path(os.environ["PHOTOSIFT_CACHE"])
    return [p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")] if cache.exists() else []


def test_onnx_export_installs_without_torch_and_matches_the_torch_model(hub, tmp_path):
    """In a fresh process: the model is resolved (downloaded, checked, mapped) and run, torch never imported."""
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "import numpy as np\n"
        "from training import registry\n"
        f"registry.REGISTRY_FILE = Path({str(registry.REGISTRY_FILE)!r})\n"
        "from desktop_app.models_runtime import load_encoder\n"
        "seen = []\n"
        "enc = load_encoder('hub-tiny', device='cpu', progress=seen.append)\n"
        "texts = ['a photo of a cat', 'Rocket launch, 1969!', 'coffee']\n"
        "pixels = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)\n"
        "np.save(sys.argv[1], enc.encode_texts(texts)); np.save(sys.argv[2], enc.encode_images(pixels))\n"
        "bad = sorted(m for m in ('torch', 'open_clip', 'timm', 'transformers', 'onnx') if m in sys.modules)\n"
        "assert not bad, bad\n"
        "print(json.dumps(sorted({p.stage for p in seen})))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "t.npy"), str(tmp_path / "i.npy")],
                       capture_output=True, text=True, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert {"download", "verify"} <= set(json.loads(r.stdout.strip().splitlines()[-1]))
    folder = ModelFolder.load(Path(os.environ["PHOTOSIFT_MODELS"]) / "hub-tiny")
    assert sorted(p.name for p in folder.path.iterdir()) == ["manifest.json", "preprocess.json", "textual.onnx",
                                                              "tokenizer.json", "visual.onnx"]
    m = folder.manifest
    assert (m.embed_dim, m.variants, m.tokenizer.kind, m.tokenizer.context_length, m.tokenizer.pad_id) == (
        32, ("fp32",), "hf", 77, 49407)
    assert folder.preprocess.image_size == 64 and folder.preprocess.mean == MEAN
    assert m.info["source"] == "onnx" and m.info["origin"].endswith(f"{HUB_REPO}@{COMMIT}")
    assert m.info["torch_weights"]["origin"] == "hf-hub:laion/not-downloaded"
    # every file by the resolved commit, the README (not needed) never fetched
    fetched = [p for p, _ in hub.requests if "/resolve/" in p]
    assert len(fetched) == 6 and all(f"/resolve/{COMMIT}/" in p for p in fetched)
    assert not any(p.endswith("README.md") for p in fetched)
    assert _cache_files() == []  # installed: the downloads are not kept twice

    import open_clip
    import torch

    from training.tiny import build_tiny_clip

    model = build_tiny_clip(seed=SEED)
    texts = ["a photo of a cat", "Rocket launch, 1969!", "coffee"]
    pixels = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    with torch.no_grad():
        ref_t = model.encode_text(open_clip.tokenizer.SimpleTokenizer()(texts), normalize=True).numpy()
        ref_i = model.encode_image(torch.from_numpy(pixels), normalize=True).numpy()
    got_t, got_i = np.load(tmp_path / "t.npy"), np.load(tmp_path / "i.npy")
    assert np.min(np.sum(got_t * ref_t, axis=1)) > 0.9999
    assert np.min(np.sum(got_i * ref_i, axis=1)) > 0.9999


def test_an_interrupted_file_is_resumed(hub, own_models_dir):
    hub.drops = {"visual/model.onnx": 1}
    folder = install.ensure_model("hub-tiny")
    assert folder.model_id == "hub-tiny"
    ranges = [r for p, r in hub.requests if p.endswith("visual/model.onnx")]
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")


@pytest.mark.parametrize("tampered", ["textual/model.onnx", "visual/preprocess_cfg.json"])
def test_a_file_that_is_not_the_published_one_is_refused_leaving_nothing(hub, own_models_dir, tampered):
    data = bytearray(hub.files[tampered])
    data[len(data) // 2] ^= 0xFF
    hub.files[tampered] = bytes(data)
    with pytest.raises(ChecksumError) as e:
        install.ensure_model("hub-tiny")
    assert "\n" not in str(e.value) and tampered in str(e.value).replace("model.onnx.part", "model.onnx")
    assert [p.name for p in own_models_dir.iterdir() if not p.name.endswith(".lock")] == []
    assert _cache_files() == []


def test_a_pinned_sha256_that_differs_from_the_hubs_is_refused(hub, own_models_dir, tmp_path):
    reg = json.loads(registry.REGISTRY_FILE.read_text())
    reg["models"][0]["onnx"]["sha256"] = {"visual/model.onnx": "cd" * 32}
    registry.REGISTRY_FILE.write_text(json.dumps(reg))
    with pytest.raises(ChecksumError, match="pins"):
        install.ensure_model("hub-tiny")
    assert not (own_models_dir / "hub-tiny").exists()


def test_a_missing_export_without_torch_says_so(hub, own_models_dir, monkeypatch):
    del hub.files["textual/model.onnx"]
    del hub.published["textual/model.onnx"]
    monkeypatch.setattr(onnx_hub, "torch_path_available", lambda: False)
    with pytest.raises(onnx_hub.OnnxExportUnavailable, match=r"has no textual/model\.onnx"):
        install.ensure_model("hub-tiny")
    assert not (own_models_dir / "hub-tiny").exists()


def test_fine_tuning_fetches_the_torch_weights_the_manifest_names(hub, own_models_dir, tmp_path):
    """Installed from its ONNX export (no torch/), the model gets its torch side only when it is fine-tuned:
    from the entry's own torch source (here a local checkpoint), the existing way."""
    import torch

    from tests.training.conftest import register_tiny_arch
    from training.finetune import load_base
    from training.tiny import build_tiny_clip

    arch = "photosift-test-tiny-onnx"
    register_tiny_arch(tmp_path, arch)
    weights = tmp_path / "tiny.pt"
    torch.save(build_tiny_clip(seed=SEED).state_dict(), weights)
    reg = json.loads(registry.REGISTRY_FILE.read_text())
    reg["models"][0].update(kind="url", arch=arch, weights={"url": str(weights)})
    registry.REGISTRY_FILE.write_text(json.dumps(reg))
    folder = install.ensure_model("hub-tiny")
    assert not (folder.path / "torch").exists() and folder.manifest.info["torch_weights"]["origin"] == str(weights)
    base, model = load_base("hub-tiny")
    assert (base.path / "torch").is_dir() and base.path == folder.path and base.manifest.info["source"] == "url"
    ref = build_tiny_clip(seed=SEED).state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in model.state_dict().items())
