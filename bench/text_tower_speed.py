"""What one text query costs on the multilingual model's text tower next to CLIP ViT-B-32's, in one run.

The registry's `xlm-roberta-b-32-laion5b` reads queries with XLM-RoBERTa base (278M parameters, 250,002 tokens)
where `vit-b-32-laion2b` has CLIP's 12-layer, 512-wide text transformer (63M). Their weights cannot be
downloaded here and speed does not depend on them, so both towers are built with random weights at their real
sizes (XLM-RoBERTa base's config written out: 12 layers, 768 wide, 3072 feed-forward, 514 positions), exported by
the app's own exporter (training.export: fp32 and int8, a dynamic sequence axis) and timed through ONNX Runtime
as the app runs them: one query at a time, at 8, 16 and 32 tokens (a short query is 8-12 tokens with either
tokenizer), p50 of --runs calls after a warm-up, all cores. The tokenizer used to export the XLM-R tower is a
small one made here (the real one is not needed to time the tower: only the token count matters).

    .venv/bin/python bench/text_tower_speed.py [--runs 30] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._common import console, default_workdir, machine_line, make_table  # noqa: E402

LENGTHS = (8, 16, 32)
XLMR_BASE = {"vocab_size": 250002, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "max_position_embeddings": 514, "type_vocab_size": 1, "pad_token_id": 1,
             "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5}


def _tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    corpus = ["a photo of a dog on the beach", "un perro en la playa", "kids playing in the snow",
              "mountains at sunset", "ein Hund am Strand", "浜辺の犬", "собака на пляже"] * 50
    tok.train_from_iterator(corpus, trainers.UnigramTrainer(vocab_size=120, special_tokens=["<s>", "<pad>", "</s>",
                                                                                             "<unk>"],
                                                             unk_token="<unk>"))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)])
    PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                            unk_token="<unk>").save_pretrained(folder)


def _export(name: str, workdir: Path):
    """(model folder, text parameters): the tower exported by the app's exporter, cached in `workdir`."""
    import open_clip
    import torch

    from engine.modelfolder import ModelFolder
    from training.export import ExportSettings, export_model_folder

    out = workdir / f"text-speed-{name}"
    if (out / "manifest.json").is_file():
        folder = ModelFolder.load(out)
        return folder, folder.manifest.info.get("text_params", 0)
    torch.manual_seed(0)
    if name == "xlmr":
        from transformers import XLMRobertaConfig

        hf = workdir / "xlmr-base-random"
        _tokenizer(hf)
        XLMRobertaConfig(**XLMR_BASE).save_pretrained(hf)
        cfg = json.loads(json.dumps(open_clip.get_model_config("xlm-roberta-base-ViT-B-32")))
        cfg["text_cfg"]["hf_model_name"] = cfg["text_cfg"]["hf_tokenizer_name"] = str(hf)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "bench-xlmr-local.json").write_text(json.dumps(cfg))
            open_clip.add_model_config(Path(tmp) / "bench-xlmr-local.json")
        arch = "bench-xlmr-local"
        model = open_clip.create_model(arch, pretrained_text=False).eval()
    else:
        arch = "ViT-B-32"
        model = open_clip.create_model(arch).eval()
    params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith("visual."))
    folder = export_model_folder(model, out, model_id=f"text-speed-{name}", model_name=arch,
                                 settings=ExportSettings(variants=("fp32", "int8")), info={"text_params": params})
    return folder, params


def _p50_ms(session, length: int, runs: int) -> float:
    name = session.get_inputs()[0].name
    dtype = np.int64 if "int64" in session.get_inputs()[0].type else np.int32
    ids = np.full((1, length), 5, dtype)
    ids[0, 0], ids[0, -1] = 0, 2
    for _ in range(3):
        session.run(None, {name: ids})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        session.run(None, {name: ids})
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--workdir", type=Path, default=default_workdir())
    args = ap.parse_args()
    os.environ["PHOTOSIFT_MODELS"] = str(args.workdir / "models")  # nothing of the user's is touched
    args.workdir.mkdir(parents=True, exist_ok=True)
    from engine.onnx_runtime import ort

    out = console()
    out.print(f"[bold]Text query cost: XLM-RoBERTa base vs CLIP ViT-B-32 text tower[/] - {machine_line()}")
    towers = {"CLIP ViT-B-32 text (vit-b-32-laion2b)": _export("clip", args.workdir),
              "XLM-RoBERTa base (xlm-roberta-b-32-laion5b)": _export("xlmr", args.workdir)}
    rows, base = [], {}
    for variant in ("fp32", "int8"):
        for label, (folder, params) in towers.items():
            path = folder.path / ("textual.onnx" if variant == "fp32" else f"textual.{variant}.onnx")
            if not path.is_file():
                rows.append((label, variant, f"{params / 1e6:.0f}M", "-", "-", "-", "not exported"))
                continue
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            ms = [_p50_ms(session, n, args.runs) for n in LENGTHS]
            key = variant
            base.setdefault(key, ms)
            ratio = " / ".join(f"{m / b:.1f}x" for m, b in zip(ms, base[key], strict=True))
            rows.append((label, variant, f"{params / 1e6:.0f}M", *(f"{m:.1f}" for m in ms), ratio))
    out.print(make_table("one query, ms (p50)", ["text tower", "variant", "parameters",
                                                 *(f"{n} tokens" for n in LENGTHS), "vs CLIP (8/16/32)"], rows))


if __name__ == "__main__":
    main()
