"""A registry model whose text tower is a Hugging Face one (the multilingual XLM-RoBERTa CLIP): its CLIP weights and
its text tower's config and tokenizer come through our hub download from a hub on 127.0.0.1, transformers never
fetches anything itself, and the installed ONNX model reads queries in several scripts as the torch model does."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

torch = pytest.importorskip("torch")
open_clip = pytest.importorskip("open_clip")

COMMIT = "c0ffee" * 6 + "beef"
QUERIES = ["a dog on the beach", "un perro en la playa", "Ένας σκύλος στην παραλία", "浜辺の犬", "собака на пляже"]
ARCH = "photosift-test-xlmr-tiny"


class _Hub(ThreadingHTTPServer):
    daemon_threads = True
    repos: dict[str, dict[str, bytes]]
    asked: list[str]


class _Resolve(BaseHTTPRequestHandler):
    """Just enough of the hub's `resolve` endpoint for huggingface_hub's hf_hub_download: HEAD gives the commit,
    etag and size; GET the bytes."""

    server: _Hub

    def _file(self) -> tuple[str, bytes] | None:
        path = urllib.parse.unquote(urllib.parse.urlparse(self.path).path)
        self.server.asked.append(path)
        m = re.match(r"^/(.+?/.+?)/resolve/[^/]+/(.+)$", path)
        if not m or m.group(1) not in self.server.repos or m.group(2) not in self.server.repos[m.group(1)]:
            return None
        return m.group(2), self.server.repos[m.group(1)][m.group(2)]

    def _headers(self, data: bytes) -> None:
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()

    def _answer(self, body: bool) -> None:
        found = self._file()
        if found is None:
            self.send_response(404)
            self.send_header("X-Error-Code", "EntryNotFound")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self._headers(found[1])
        if body:
            self.wfile.write(found[1])

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    def log_message(self, *args: object) -> None:
        pass


def _multilingual_tokenizer(folder):
    """A small SentencePiece-style (Unigram) tokenizer like XLM-RoBERTa's: <s>=0, <pad>=1, </s>=2, <unk>=3,
    trained on words of five scripts, saved the way the hub holds one (tokenizer.json and its config)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    corpus = [*QUERIES, "a cat in the snow", "un gato en la nieve", "Μια γάτα στο χιόνι", "雪の中の猫",
              "кошка в снегу", "city at night", "ciudad de noche", "πόλη τη νύχτα", "夜の街", "город ночью"] * 20
    tok.train_from_iterator(corpus, trainers.UnigramTrainer(
        vocab_size=200, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", model_max_length=16)
    fast.save_pretrained(folder)
    return fast


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A hub on 127.0.0.1 with a tiny XLM-RoBERTa CLIP: the CLIP weights in one repository, the text tower's
    config and tokenizer in another (as laion/... and FacebookAI/xlm-roberta-base are)."""
    from transformers import XLMRobertaConfig

    text_dir = tmp_path / "xlmr-tiny"
    fast = _multilingual_tokenizer(text_dir)
    XLMRobertaConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=40, pad_token_id=1, bos_token_id=0,
                     eos_token_id=2).save_pretrained(text_dir)
    cfg = {"embed_dim": 32,
           "vision_cfg": {"image_size": 64, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
           "text_cfg": {"hf_model_name": "xlm-roberta-test", "hf_tokenizer_name": "xlm-roberta-test",
                        "hf_proj_type": "mlp", "hf_pooler_type": "mean_pooler", "context_length": 16}}
    arch_file = tmp_path / f"{ARCH}.json"
    arch_file.write_text(json.dumps(cfg))
    open_clip.add_model_config(arch_file)
    local = json.loads(json.dumps(cfg))
    local["text_cfg"]["hf_model_name"] = local["text_cfg"]["hf_tokenizer_name"] = str(text_dir)
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / f"{ARCH}-built.json").write_text(json.dumps(local))
    open_clip.add_model_config(tmp_path / "local" / f"{ARCH}-built.json")
    torch.manual_seed(3)
    model = open_clip.create_model(f"{ARCH}-built", pretrained_text=False).eval()
    torch.save(model.state_dict(), tmp_path / "weights.bin")
    srv = _Hub(("127.0.0.1", 0), _Resolve)
    srv.asked = []
    srv.repos = {
        "laion/test-xlmr-clip": {"open_clip_pytorch_model.bin": (tmp_path / "weights.bin").read_bytes()},
        "test-org/xlm-roberta-test": {p.name: p.read_bytes() for p in text_dir.iterdir() if p.is_file()},
    }
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{srv.server_port}")
    monkeypatch.setenv("PHOTOSIFT_CACHE", str(tmp_path / "cache"))
    srv.model = model
    srv.tokenizer = fast
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.slow  # an ONNX export: ~10 s on a 2-core machine
def test_a_hugging_face_text_tower_comes_through_our_download_and_reads_every_script(hub, tmp_path, monkeypatch,
                                                                                    own_models_dir):
    import huggingface_hub.constants as hub_constants

    from engine.encoder import ClipEncoder, RuntimeConfig
    from training import install, registry

    # the hub client reads HF_ENDPOINT when it is first imported (earlier tests did): point it at our hub now
    endpoint = f"http://127.0.0.1:{hub.server_port}"
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hub_constants, "ENDPOINT", endpoint)
    template = endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    entry = {"id": "xlmr-tiny", "kind": "hf-hub", "arch": ARCH,
             "weights": {"pretrained": "", "hf_hub": "laion/test-xlmr-clip", "files": ["open_clip_pytorch_model.bin"],
                         "text_tower": {"hf_hub": "test-org/xlm-roberta-test",
                                        "files": ["config.json", "tokenizer.json", "tokenizer_config.json"]}},
             "licence": "MIT", "size_bytes": 1, "sha256": None, "description": "a tiny multilingual CLIP"}
    (tmp_path / "models.json").write_text(json.dumps({"default": "starter", "models": [entry]}))
    monkeypatch.setattr(registry, "REGISTRY_FILE", tmp_path / "models.json")
    folder = install.ensure_model("xlmr-tiny", device="cpu")

    asked = {p.split("/resolve/")[0].strip("/") for p in hub.asked}
    assert asked == {"laion/test-xlmr-clip", "test-org/xlm-roberta-test"}, "only our two repositories, only through us"
    assert (folder.path / "torch" / "hf_text" / "tokenizer.json").is_file(), "fine-tuning needs no hub either"
    spec = json.loads((folder.path / "torch" / "open_clip_config.json").read_text())
    assert spec["arch"] == ARCH and spec["model_cfg"]["text_cfg"]["hf_model_name"] == "hf_text"
    assert folder.manifest.tokenizer.kind == "hf"

    encoder = ClipEncoder(folder, RuntimeConfig(device="cpu", variant="fp32"))
    ours = encoder.encode_texts(QUERIES)
    with torch.no_grad():
        tokens = hub.tokenizer(QUERIES, padding="max_length", max_length=16, truncation=True,
                               return_tensors="pt").input_ids
        theirs = torch.nn.functional.normalize(hub.model.encode_text(tokens), dim=-1).numpy()
    cosines = np.sum(ours * theirs, axis=1)
    assert np.all(cosines > 0.999), cosines  # every script tokenized and embedded as the torch model does
    unknown = [hub.tokenizer.convert_ids_to_tokens(t) for t in tokens.tolist()]
    assert all("<unk>" not in row for row in unknown), "the queries' scripts are in the tokenizer"

    # fine-tuned from its own torch/ side, with no hub at all: the text tower's files came along
    from PIL import Image

    from training.datasets import FolderDataset
    from training.finetune import train
    from training.traindata import from_dataset

    rng = np.random.default_rng(0)
    for name, channel in (("red", 0), ("green", 1), ("blue", 2)):
        (tmp_path / "photos" / name).mkdir(parents=True)
        for i in range(4):
            a = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            a[..., channel] += np.uint8(150)
            Image.fromarray(a).save(tmp_path / "photos" / name / f"{name}{i}.jpg")
    asked_before = len(hub.asked)
    photos = from_dataset(FolderDataset(tmp_path / "photos", level=1), min_per_class=2)
    result = train("xlmr-tiny", photos, method="stage1", epochs=1, device="cpu")
    assert len(hub.asked) == asked_before, "fine-tuning asked the hub for something"
    assert (result.folder.path / "torch" / "hf_text" / "tokenizer.json").is_file()
    tuned = ClipEncoder(result.folder, RuntimeConfig(device="cpu", variant="fp32")).encode_texts(QUERIES)
    assert tuned.shape == ours.shape and np.all(np.isfinite(tuned))


def test_the_shipped_multilingual_entry_names_its_text_tower():
    from training import registry

    entry = registry.builtin_entries()["xlm-roberta-b-32-laion5b"]
    assert entry.arch == "xlm-roberta-base-ViT-B-32" and entry.licence == "MIT"
    assert entry.weights["pretrained"] in open_clip.list_pretrained_tags_by_model(entry.arch)
    tower = entry.weights["text_tower"]
    assert tower["hf_hub"] == "FacebookAI/xlm-roberta-base" and {"config.json", "tokenizer.json"} <= set(tower["files"])
    assert open_clip.get_model_config(entry.arch)["text_cfg"]["hf_model_name"] == "xlm-roberta-base"
