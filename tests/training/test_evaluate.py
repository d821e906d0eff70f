"""Evaluation metrics on hand-made embeddings with known values, and `photosift eval` end to end."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from training.evaluate import (
    METRIC_KEYS,
    average_precision,
    class_text_embeddings,
    i2i_map,
    knn_accuracy,
    nn1_accuracy,
    recall_at_k,
    zeroshot_accuracy,
)


def _angles(*degrees: float) -> np.ndarray:
    r = np.radians(degrees)
    return np.stack([np.cos(r), np.sin(r)], axis=1).astype(np.float32)


def test_average_precision_of_a_known_ranking() -> None:
    # ranking: relevant, irrelevant, relevant -> (1/1 + 2/3) / 2
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1])) == pytest.approx(5 / 6)
    assert average_precision(np.array([0.1, 0.9]), np.array([1, 0])) == pytest.approx(0.5)
    assert math.isnan(average_precision(np.array([0.1]), np.array([0])))


def test_perfectly_separated_classes_score_one() -> None:
    emb = _angles(0, 5, 90, 95)
    labels = np.array([0, 0, 1, 1])
    assert i2i_map(emb, labels) == pytest.approx(1.0)
    assert nn1_accuracy(emb, labels) == 1.0
    assert knn_accuracy(emb, labels, k=1) == 1.0


def test_i2i_map_and_nn1_on_interleaved_points() -> None:
    # points on a line of angles: a0=0, b0=10, a1=20, b1=30 (labels a, b, a, b)
    emb = _angles(0, 10, 20, 30)
    labels = np.array([0, 1, 0, 1])
    # query a0: ranking b0 (10), a1 (20), b1 (30) -> AP 1/2
    # query b0: a0 and a1 tie at 10 (stable order: a0 first), then b1 -> AP 1/3
    # query a1: b0 and b1 tie (b0 first), then a0 -> AP 1/3
    # query b1: a1 (10), b0 (20) -> AP 1/2
    assert i2i_map(emb, labels) == pytest.approx((1 / 2 + 1 / 3 + 1 / 3 + 1 / 2) / 4)
    assert nn1_accuracy(emb, labels) == 0.0


def test_singleton_classes_are_not_queries() -> None:
    emb = _angles(0, 5, 90)
    labels = np.array([0, 0, 7])  # class 7 has one image: nothing to find
    assert nn1_accuracy(emb, labels) == 1.0
    assert i2i_map(emb, labels) == pytest.approx(1.0)


def test_knn_vote_is_similarity_weighted() -> None:
    # item 0 (class 1) at 0 deg; its 3 nearest: item 1 (class 1, 1 deg), items 2 and 3 (class 2, 60 deg).
    # A majority vote would say class 2; weights exp((cos - 1) / 0.07) give ~1.0 against ~0.001 each.
    emb = _angles(0, 1, 60, 61, 62)
    labels = np.array([1, 1, 2, 2, 2])
    assert knn_accuracy(emb, labels, k=3) == 1.0
    # with the class-2 points as close as the class-1 one, the two of them outvote it
    emb = _angles(0, 1, 2, 3, 90)
    labels = np.array([1, 1, 2, 2, 2])
    assert knn_accuracy(emb, labels, k=3) < 1.0


def test_recall_at_k_counts_the_rank_of_the_own_image() -> None:
    gallery = _angles(0, 30, 60, 90)
    queries = _angles(2, 58, 50)  # targets: 0 (rank 1), 2 (rank 1), 3 (rank 3: 60 and 30 are nearer than 90)
    r = recall_at_k(queries, gallery, np.array([0, 2, 3]), ks=(1, 2, 3))
    assert r[1] == pytest.approx(2 / 3)
    assert r[2] == pytest.approx(2 / 3)
    assert r[3] == pytest.approx(1.0)


def test_recall_ties_count_against_the_query() -> None:
    gallery = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=np.float32)
    r = recall_at_k(gallery[:1], gallery, np.array([1]), ks=(1, 2))
    assert r[1] == 0.0 and r[2] == 1.0


def test_zeroshot_accuracy_and_class_embeddings() -> None:
    images = _angles(0, 10, 80, 100)
    classes = _angles(5, 95)
    assert zeroshot_accuracy(images, np.array([0, 0, 1, 1]), classes) == 1.0
    assert zeroshot_accuracy(images, np.array([0, 1, 1, 1]), classes) == 0.75

    def fake_encode(texts: list[str]) -> np.ndarray:
        return np.array([[1.0, 0.0] if "cat" in t else [0.0, 1.0] for t in texts], dtype=np.float32)

    emb = class_text_embeddings(fake_encode, ["cat", "dog"], ["a {}", "the {}"])
    assert emb.shape == (2, 2)
    np.testing.assert_allclose(emb, [[1, 0], [0, 1]], atol=1e-6)


def test_evaluate_runs_the_onnx_model_on_a_folder_dataset(tiny_model, labelled_photos: Path) -> None:
    from engine.encoder import ClipEncoder
    from training.datasets import FolderDataset
    from training.evaluate import evaluate

    ds = FolderDataset(labelled_photos, level=2)
    seen = []
    r = evaluate(ClipEncoder(tiny_model), ds, progress=seen.append, k=3, extra_levels=[1])
    for key in METRIC_KEYS:
        assert 0.0 <= r[key] <= 1.0, key
    assert (r["n_images"], r["n_classes"], r["n_captions"]) == (7, 5, 6)
    assert "zeroshot_acc_level1" in r
    assert seen and seen[-1].done == seen[-1].total == 7


def test_eval_command_prints_json(tiny_model, labelled_photos: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from desktop_app.cli import main

    assert main(["eval", "--model", "tiny", "--dataset", str(labelled_photos), "--level", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(METRIC_KEYS) <= set(out)
    assert out["n_classes"] == 3 and out["level"] == 1


def test_eval_command_table_and_missing_dataset(tiny_model, labelled_photos: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from desktop_app.cli import main

    assert main(["eval", "--model", "tiny", "--dataset", str(labelled_photos)]) == 0
    assert "1-NN accuracy" in capsys.readouterr().out
    assert main(["eval", "--model", "tiny", "--dataset", str(labelled_photos / "nope")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_eval_leaves_out_unreadable_images_and_names_them(tiny_model, labelled_photos: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from desktop_app.cli import main

    root = tmp_path / "photos"
    shutil.copytree(labelled_photos, root)
    first = next(p for p in sorted(root.rglob("*")) if p.suffix.lower() in (".jpg", ".png"))
    broken = first.with_name("broken" + first.suffix)
    broken.write_bytes(first.read_bytes()[:100])
    (first.parent / "notes.jpg").write_text("not an image")
    assert main(["eval", "--model", "tiny", "--dataset", str(root), "--level", "2", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_images"] == 7 and set(out["unreadable"]) == {str(broken), str(first.parent / "notes.jpg")}
    assert main(["eval", "--model", "tiny", "--dataset", str(root), "--level", "2"]) == 0
    assert "Left out 2 image(s) that could not be read" in capsys.readouterr().err
