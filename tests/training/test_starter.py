"""The offline starter model: its parts (fast) and the full build (slow), and torch checkpoints."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelFolderError
from engine.modelfolder import PreprocessConfig
from training.torchfolder import (
    CONFIG_FILE,
    TORCH_DIR,
    WEIGHTS_FILE,
    ClassAnchorProjection,
    apply_photosift_heads,
    has_torch_checkpoint,
    load_torch_model,
    read_spec,
    save_torch_model,
)


def test_class_anchor_projection_picks_the_nearest_anchors_target() -> None:
    proj = ClassAnchorProjection(in_dim=2, n_anchors=3, out_dim=4, temperature=0.01)
    with torch.no_grad():
        proj.anchors.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]))
        proj.targets.copy_(torch.eye(3, 4))
    out = proj(torch.tensor([[5.0, 0.2], [0.1, -3.0], [-0.1, 2.0]]))  # input scale does not matter
    np.testing.assert_allclose(out[0].detach().numpy(), [1, 0, 0, 0], atol=1e-3)
    np.testing.assert_allclose(out[2].detach().numpy(), [0, 1, 0, 0], atol=1e-3)
    weights = proj.anchor_weights(torch.randn(5, 2))
    np.testing.assert_allclose(weights.sum(1).detach().numpy(), 1.0, rtol=1e-5)
    assert proj.temperature == pytest.approx(0.01)


def test_class_anchor_projection_is_trainable() -> None:
    proj = ClassAnchorProjection(in_dim=3, n_anchors=4, out_dim=2)
    torch.nn.init.normal_(proj.anchors)
    torch.nn.init.normal_(proj.targets)
    proj(torch.randn(6, 3)).pow(2).sum().backward()
    for p in (proj.anchors, proj.targets, proj.log_inv_temperature):
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_lite0_weights_map_onto_timm_and_recognise_a_cat(sample_arrays: dict[str, np.ndarray]) -> None:
    import timm
    from PIL import Image

    from engine.preprocess import preprocess
    from training.starter import lite0_weights_path, load_lite0_trunk

    trunk = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval()
    fc_w, fc_b = load_lite0_trunk(trunk, lite0_weights_path())
    assert fc_w.shape == (1000, 1280) and fc_b.shape == (1000,)
    cfg = PreprocessConfig(224, "shortest", "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    x = torch.from_numpy(preprocess(Image.fromarray(sample_arrays["chelsea"]), cfg))
    with torch.no_grad():
        logits = trunk(x) @ fc_w.T + fc_b
    assert int(logits.argmax()) in range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def test_imagenet_class_texts_have_names_and_glosses() -> None:
    from training.starter import CLASS_TEXT_VIEWS, imagenet_class_texts

    texts = imagenet_class_texts()
    assert len(texts) == 1000 and all(len(v) == len(CLASS_TEXT_VIEWS) for v in texts)
    assert texts[948][0].startswith("Granny Smith apple: apple with a green skin")
    assert all(v and v[0].count(": ") >= 1 for v in texts)


def test_starter_config_is_an_open_clip_config() -> None:
    from training.starter import ARCH, CONFIG_PATH, load_config, resolved_model_cfg

    assert CONFIG_PATH.name == f"{ARCH}.json"
    cfg = load_config()
    assert {"embed_dim", "vision_cfg", "text_cfg"} <= set(cfg)
    assert cfg["photosift"]["text_proj"]["out_dim"] == cfg["embed_dim"]
    resolved = resolved_model_cfg(cfg)
    assert Path(resolved["text_cfg"]["hf_model_name"], "config.json").is_file()
    assert "photosift" not in resolved and "preprocess_cfg" not in resolved


def test_torch_checkpoint_round_trip_of_a_plain_clip(tmp_path: Path) -> None:
    from training.tiny import TINY_CFG, build_tiny_clip

    model = build_tiny_clip(seed=3)
    pre = PreprocessConfig(image_size=64)
    save_torch_model(model, tmp_path / TORCH_DIR, dict(TINY_CFG), pre)
    assert has_torch_checkpoint(tmp_path)
    loaded = load_torch_model(tmp_path)
    assert read_spec(tmp_path).preprocess == pre
    x, ids = torch.randn(2, 3, 64, 64), torch.randint(1, 1000, (2, 77))
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_image(x), model.encode_image(x))
        torch.testing.assert_close(loaded.encode_text(ids), model.encode_text(ids))


def _tiny_hf_folder(path: Path) -> Path:
    from transformers import BertConfig

    BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
               max_position_embeddings=64).save_pretrained(path)
    return path


def test_torch_checkpoint_round_trip_with_a_class_anchor_text_projection(tmp_path: Path) -> None:
    import open_clip

    hf = _tiny_hf_folder(tmp_path / "hf")
    model_cfg = {"embed_dim": 16, "custom_text": True,
                 "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
                 "text_cfg": {"context_length": 16, "hf_model_name": str(hf), "hf_tokenizer_name": str(hf),
                              "hf_model_pretrained": False, "hf_proj_type": "linear",
                              "hf_pooler_type": "mean_pooler"}}
    heads = {"text_proj": {"type": "class_anchor", "in_dim": 32, "anchors": 5, "out_dim": 16, "temperature": 0.1}}
    torch.manual_seed(0)
    model = open_clip.CustomTextCLIP(**{k: v for k, v in model_cfg.items() if k != "custom_text"})
    apply_photosift_heads(model, heads)
    torch.nn.init.normal_(model.text.proj.anchors)
    torch.nn.init.normal_(model.text.proj.targets)
    model.eval()
    save_torch_model(model, tmp_path / "m" / TORCH_DIR, model_cfg, PreprocessConfig(32), heads, hf_source=hf)
    doc = json.loads((tmp_path / "m" / TORCH_DIR / CONFIG_FILE).read_text())
    assert doc["model_cfg"]["text_cfg"]["hf_model_name"] == "hf_text"  # relative: the folder can move
    (tmp_path / "m").rename(tmp_path / "moved")
    loaded = load_torch_model(tmp_path / "moved")
    assert isinstance(loaded.text.proj, ClassAnchorProjection)
    ids = torch.randint(1, 120, (3, 16))
    with torch.no_grad():
        torch.testing.assert_close(loaded.encode_text(ids), model.encode_text(ids))


def test_missing_checkpoint_and_bad_heads_are_model_folder_errors(tmp_path: Path) -> None:
    from training.tiny import build_tiny_clip

    with pytest.raises(ModelFolderError, match="keeps no torch weights"):
        load_torch_model(tmp_path)
    with pytest.raises(ModelFolderError, match="Hugging Face text tower"):
        apply_photosift_heads(build_tiny_clip(), {"text_proj": {"type": "class_anchor"}})


@pytest.mark.slow
def test_build_starter_exports_a_working_model_folder(starter_build, sample_arrays: dict[str, np.ndarray]) -> None:
    from PIL import Image

    from engine.encoder import ClipEncoder
    from engine.preprocess import preprocess
    from training.starter import STARTER_ID

    folder, seen = starter_build
    tmp_path = folder.path.parent
    assert folder.model_id == STARTER_ID and folder.manifest.embed_dim == 1280
    assert folder.manifest.tokenizer.kind == "hf" and folder.manifest.tokenizer.context_length == 64
    assert folder.preprocess.mean == (0.5, 0.5, 0.5)
    assert folder.manifest.info["kind"] == "starter"
    assert (folder.path / TORCH_DIR / WEIGHTS_FILE).is_file()
    assert seen and seen[-1].done == seen[-1].total
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind

    enc = ClipEncoder(folder)
    names = ["chelsea", "rocket", "coffee"]
    pixels = np.concatenate([preprocess(Image.fromarray(sample_arrays[n]), folder.preprocess) for n in names])
    images = enc.encode_images(pixels)
    texts = enc.encode_texts(["a photo of a cat", "a rocket launch", "a cup of coffee"])
    assert list((texts @ images.T).argmax(1)) == [0, 1, 2]
    # The MiniLM tower runs a query's own length: trimmed ids give the padded ids' vectors.
    assert folder.manifest.export["text_seq"] == "dynamic" and enc.textual.dynamic_seq
    queries = ["a cat", "a rocket launch at night over the sea"]
    padded, trimmed = (enc.textual.run(enc.tokenizer(queries, trim=t)) for t in (False, True))
    assert trimmed.shape == padded.shape and enc.tokenizer(queries, trim=True).shape[1] < 64
    cos = (padded * trimmed).sum(1) / np.linalg.norm(padded, axis=1) / np.linalg.norm(trimmed, axis=1)
    assert cos.min() >= 0.9999

    model = load_torch_model(folder.path)
    assert read_spec(folder.path).preprocess == folder.preprocess
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model.encode_image(torch.from_numpy(pixels)), dim=-1).numpy()
    assert float((ref * images).sum(1).min()) > 0.999
    assert not math.isnan(model.text.proj.temperature)
