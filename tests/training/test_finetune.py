"""Fine-tuning: training data from a catalog, the exact frozen-prefix cut, cancel-and-keep-best, end to end."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.catalog import PhotoCatalog
from engine.encoder import ClipEncoder, RuntimeConfig
from engine.errors import Cancelled
from engine.jobs import CancelToken, Progress
from engine.modelfolder import ModelFolder
from training.datasets import FolderDataset
from training.features import FeatureBank
from training.finetune import load_base, train
from training.session import FineTuneSession
from training.settings import TrainSettings
from training.towers import ImageTowerPlan, text_trainable
from training.traindata import TrainingDataError, from_catalog, from_dataset, split_per_class

COLOURS = {"red": 0, "green": 1, "blue": 2}


def _make_photos(root: Path, per_class: int = 6) -> Path:
    rng = np.random.default_rng(0)
    for name, channel in COLOURS.items():
        for i in range(per_class):
            a = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            a[..., channel] += np.uint8(150)
            (root / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(a).save(root / name / f"{name}{i}.jpg")
            if i % 2 == 0:
                (root / name / f"{name}{i}.txt").write_text(f"a {name} square\n")
    return root


@pytest.fixture(scope="module")
def tiny_base(models_root: Path) -> ModelFolder:
    """The tiny random model installed with its torch weights (so it can be fine-tuned)."""
    from training.tiny import export_tiny

    return export_tiny(models_root / "tiny-trainable", model_id="tiny-trainable", variants=("fp32", "int8"))


@pytest.fixture(scope="module")
def colour_data(tmp_path_factory: pytest.TempPathFactory):
    root = _make_photos(tmp_path_factory.mktemp("colours"))
    return from_dataset(FolderDataset(root, level=1), min_per_class=4, val_fraction=0.2, seed=0)


# -- training data -------------------------------------------------------------------------------------------
def test_split_per_class_holds_out_a_share_of_every_class() -> None:
    labels = np.array([0] * 10 + [1] * 3 + [2] * 2)
    train_idx, held = split_per_class(labels, 0.2, seed=0, min_train=2)
    assert sorted([*train_idx, *held]) == list(range(15))
    assert np.bincount(labels[held], minlength=3).tolist() == [2, 1, 0]


def _catalog_with(tmp_path: Path) -> PhotoCatalog:
    cat = PhotoCatalog(tmp_path / "catalog.db")
    root = cat.add_root(str(tmp_path / "photos"))
    layout = {"beach": 5, "snow": 4, "party": 2}
    for folder, n in layout.items():
        for i in range(n):
            path = tmp_path / "photos" / folder / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(path)
            pid = cat.insert_photo(root_id=root.id, path=str(path), raw_path=None, size=1, mtime=0.0,
                                   fingerprint=None)
            cat.record_decoded(pid, {})
            if folder == "beach":
                cat.tags.set_user(pid, "sea")
                if i < 2:
                    cat.tags.set_user(pid, "kids")
            if folder == "snow" or (folder == "party" and i == 0):
                cat.tags.set_user(pid, "winter")
    return cat


def test_training_data_from_album_folders_trains_on_small_albums_without_measuring_them(tmp_path: Path) -> None:
    cat = _catalog_with(tmp_path)
    data = from_catalog(cat, "folders", min_per_class=4, val_fraction=0.25)
    # "party" (2 photos) is too small to hold photos out: it trains (extra positives) and is said so
    assert data.class_names == ("beach", "party", "snow")
    assert data.left_out == {} and data.train_only == {"party": 2}
    assert data.summary()["train_only_classes"] == {"party": 2}
    party = [it for it in (*data.val, *data.report) if it.label == 1]
    assert not party and sum(it.label == 1 for it in data.train) == 2
    assert len(data.train) + len(data.val) + len(data.report) == 11 and len(data.val) + len(data.report) == 2
    # below `min_train_only` photos an album is left out, and its photos count among the other photos
    data = from_catalog(cat, "folders", min_per_class=4, val_fraction=0.25, min_train_only=3)
    assert data.left_out == {"party": 2} and len(data.other) == 2
    (tmp_path / "photos" / "snow" / "0.jpg").unlink()  # deleted since it was indexed: skipped
    data = from_catalog(cat, "folders", min_per_class=3, val_fraction=0.25)
    assert len(data.train) + len(data.val) + len(data.report) == 10 and data.train_only == {"party": 2}


def test_choose_and_report_photos_are_disjoint_and_cover_the_held_out_ones() -> None:
    from training.traindata import choose_and_report

    labels = np.array([0, 0, 0, 1, 1, 2, 3, 3, 3, 3])
    choose, report = choose_and_report(labels, seed=0)
    assert not set(choose) & set(report) and sorted([*choose, *report]) == list(range(10))
    for c in (0, 1, 3):  # every class with two or more held-out photos is on both sides
        assert (labels[choose] == c).any() and (labels[report] == c).any()


def test_training_data_from_tags_gives_each_photo_one_class(tmp_path: Path) -> None:
    cat = _catalog_with(tmp_path)
    data = from_catalog(cat, "tags", min_per_class=4, val_fraction=0.25)
    # "kids" (2 photos) is too small, so those photos stay with "sea"; "winter" has 4 + 1 photos.
    assert data.class_names == ("sea", "winter")
    assert data.left_out == {"kids": 2}
    assert len(data.train) + len(data.val) + len(data.report) == 10
    assert [str(p).rsplit("/", 2)[-2:] for p in data.other] == [["party", "1.jpg"]]  # untagged: "other photos"
    with pytest.raises(TrainingDataError, match="at least 2 classes"):
        from_catalog(cat, "tags", min_per_class=6)
    cat.conn.execute("DELETE FROM tags WHERE source = 'user'")
    with pytest.raises(TrainingDataError, match="no photo has tags of your own yet"):  # says what to do
        from_catalog(cat, "tags", min_per_class=4)


def test_training_data_from_the_albums_people_made(tmp_path: Path) -> None:
    from engine.albums import add_to_album, new_album

    cat = _catalog_with(tmp_path)
    with pytest.raises(TrainingDataError, match="no photo is in an album yet"):
        from_catalog(cat, "albums", min_per_class=4)
    by_folder: dict[str, list[int]] = {}
    for p in cat.photos_where():
        by_folder.setdefault(p.path.rsplit("/", 2)[-2], []).append(p.id)
    for name, ids in (("Seaside", by_folder["beach"]), ("Ski week", by_folder["snow"]),
                      ("Best of", by_folder["beach"][:2] + by_folder["snow"][:1])):
        new_album(cat, name)
        add_to_album(cat, name, ids)
    data = from_catalog(cat, "albums", min_per_class=4, val_fraction=0.25)
    # "Best of" (3 photos) is too small: its photos count for their other albums
    assert data.class_names == ("Seaside", "Ski week") and data.left_out == {"Best of": 3}
    assert len(data.train) + len(data.val) + len(data.report) == 9 and len(data.other) == 2  # the party photos
    assert data.summary()["source"] == "library:albums"




def test_class_cap_fits_the_total_by_lowering_the_per_class_limit() -> None:
    from training.traindata import class_cap

    assert class_cap([5, 4], 200, 20_000) is None  # nothing that large: every photo is used
    assert class_cap([500, 40, 7], 200, None) == 200
    assert class_cap([100, 10, 5], 200, 30) == 15  # 15 + 10 + 5 = 30
    assert class_cap([100, 100, 100], 200, 6, floor=4) == 4  # never below the smallest class size kept
    assert class_cap([100, 10, 5], None, None) is None


def test_large_classes_are_sampled_and_the_summary_says_so(tmp_path: Path) -> None:
    from desktop_app.commands.train import MAX_PER_CLASS, MAX_PHOTOS
    from training import traindata

    assert (MAX_PER_CLASS, MAX_PHOTOS) == (traindata.MAX_PER_CLASS, traindata.MAX_PHOTOS)  # one source
    cat = _catalog_with(tmp_path)
    data = from_catalog(cat, "folders", min_per_class=4, val_fraction=0.25, max_per_class=3)
    per_class = np.bincount([it.label for it in (*data.train, *data.val, *data.report)])
    assert per_class.tolist() == [3, 2, 3] and data.summary()["sampled"] == {"per_class": 3, "photos_not_used": 3}
    again = from_catalog(cat, "folders", min_per_class=4, val_fraction=0.25, max_per_class=3)
    assert again == data  # the same photos for the same seed
    assert "sampled" not in from_catalog(cat, "folders", min_per_class=4).summary()


def test_unreadable_photos_are_left_out_with_their_reason(tmp_path: Path) -> None:
    data = from_catalog(_catalog_with(tmp_path), "folders", min_per_class=2, val_fraction=0.25)
    data = replace(data, val=(*data.val, *data.report), report=())  # the held-out ones in one list, as before
    assert data.class_names == ("beach", "party", "snow")
    beach = sorted(str(it.path) for it in data.train if it.label == 0)
    one = data.without({beach[0]: "corrupt or truncated image", "/elsewhere.jpg": "not ours"})
    assert one.unreadable == {beach[0]: "corrupt or truncated image"} and one.class_names == data.class_names
    assert len(one.train) + len(one.val) == len(data.train) + len(data.val) - 1
    assert one.summary()["unreadable_photos"] == {beach[0]: "corrupt or truncated image"}
    # a class without a readable training photo is left out, with its held-out photos
    party_train = [str(it.path) for it in data.train if it.label == 1]
    two = one.without(dict.fromkeys(party_train, "permission denied"))
    assert two.class_names == ("beach", "snow") and set(two.unreadable) == {beach[0], *party_train}
    assert {it.label for it in (*two.train, *two.val)} == {0, 1} and "party" in two.left_out
    assert len(two.train) + len(two.val) == 5 - 1 + 4
    snow_train = [str(it.path) for it in two.train if it.label == 1]
    with pytest.raises(TrainingDataError, match="at least 2 classes with readable photos"):
        two.without(dict.fromkeys(snow_train, "permission denied"))
    assert data.without({}) is data


def test_feature_bank_skips_a_corrupt_photo_and_says_why(tmp_path: Path) -> None:
    import open_clip

    from engine.modelfolder import PreprocessConfig

    model = open_clip.CustomTextCLIP(
        embed_dim=16, vision_cfg={"timm_model_name": "tf_efficientnet_lite0", "timm_model_pretrained": False,
                                  "timm_pool": "avg", "timm_proj": "linear", "image_size": 64},
        text_cfg={"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 2}).eval()
    plan = ImageTowerPlan(model, blocks=2)
    good = tmp_path / "good.jpg"
    Image.new("RGB", (80, 60), (200, 30, 30)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(good.read_bytes()[:200])  # truncated
    bank = FeatureBank(plan, PreprocessConfig(image_size=64), torch.device("cpu"), views=2)
    bank.ensure([str(good), str(bad)], [])
    assert set(bank.train_views) == set(bank.eval_view) == {str(good)}
    assert list(bank.unreadable) == [str(bad)] and "truncated" in bank.unreadable[str(bad)]
    bank.ensure([str(good), str(bad)], [])  # known bad: not tried again


# -- the parts that train ------------------------------------------------------------------------------------
def test_frozen_prefix_cut_is_exact_for_a_timm_tower() -> None:
    import open_clip

    torch.manual_seed(0)
    model = open_clip.CustomTextCLIP(
        embed_dim=16, vision_cfg={"timm_model_name": "tf_efficientnet_lite0", "timm_model_pretrained": False,
                                  "timm_pool": "avg", "timm_proj": "linear", "image_size": 64},
        text_cfg={"context_length": 16, "vocab_size": 1000, "width": 32, "heads": 2, "layers": 2}).eval()
    plan = ImageTowerPlan(model, blocks=3)
    assert plan.cached and plan.cut == "trunk.blocks.5.1"
    names = {n for n, _ in plan.trainable}
    assert "visual.trunk.blocks.6.0.conv_pw.weight" in names and "visual.head.proj.weight" in names
    assert not any(n.startswith("visual.trunk.blocks.4.") for n in names)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        full = model.encode_image(x)
        features = plan.prefix(x)
        with plan.stubs():
            cut = model.encode_image(features)
    assert torch.equal(full, cut)
    assert isinstance(model.visual.trunk.conv_stem, torch.nn.Conv2d)  # the stubs are gone again


def test_text_trainable_is_the_last_layers_and_the_projection() -> None:
    from training.tiny import build_tiny_clip

    names = [n for n, _ in text_trainable(build_tiny_clip(0), layers=1)]
    assert "transformer.resblocks.1.attn.in_proj_weight" in names
    assert not any(n.startswith("transformer.resblocks.0.") for n in names)
    assert {"text_projection", "ln_final.weight"} <= set(names)
    assert not any(n.startswith("visual.") or n in ("token_embedding.weight", "logit_scale") for n in names)


# -- cancel and end to end -----------------------------------------------------------------------------------
def test_cancel_keeps_the_best_checkpoint(tiny_base: ModelFolder, colour_data,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cancel = CancelToken()
    scores = iter([0.5, 0.6, 0.9, 0.4, 0.3, 0.2])
    seen: list[tuple[float, dict[str, torch.Tensor]]] = []

    def scripted_val_map(self: FineTuneSession) -> float:
        score = next(scores)
        seen.append((score, {n: p.detach().clone() for n, p in self.plan.trainable}))
        if len(seen) == 4:
            cancel.cancel()  # the next step stops the stage
        return score

    monkeypatch.setattr(FineTuneSession, "val_map", scripted_val_map)
    _, model = load_base(tiny_base)
    # wise=1.0: the restored checkpoint itself, not a mix of it with the base
    settings = TrainSettings(method="stage1", epochs=20, batch_size=4, evals_per_epoch=100, device="cpu", wise=1.0)
    session = FineTuneSession(model, tiny_base, colour_data, settings, cancel=cancel)
    report = session.run_stage1()
    assert report.cancelled and report.steps == 3
    assert report.best_step == 2 and report.best_score == 0.9
    best = seen[2][1]
    for name, p in session.plan.trainable:
        assert torch.equal(p.detach(), best[name])
    assert not torch.equal(seen[3][1][session.plan.trainable[0][0]], best[session.plan.trainable[0][0]])



def test_realignment_reports_the_mAP_of_the_restored_best_checkpoint(tiny_base: ModelFolder, colour_data,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    scores = iter([0.5, 0.9, 0.4, 0.3])
    monkeypatch.setattr(FineTuneSession, "val_map", lambda self: next(scores, 0.2))
    _, model = load_base(tiny_base)
    events: list[Progress] = []
    settings = TrainSettings(method="2sft", epochs=1, realign_epochs=1, batch_size=4, evals_per_epoch=3,
                             device="cpu", wise=1.0)
    session = FineTuneSession(model, tiny_base, colour_data, settings, progress=events.append)
    assert session.run_stage1().best_score == 0.9
    session.run_stage2()
    stage2 = [e.metrics["val_map"] for e in events if e.message.startswith("stage 2") and "val_map" in e.metrics]
    assert stage2 and set(stage2) == {0.9}  # the image tower is frozen at stage 1's best, not its last evaluation



def test_a_taken_model_id_never_costs_a_finished_training(tiny_base: ModelFolder, colour_data,
                                                           tmp_path: Path) -> None:
    from training.install import new_model_id

    root = tmp_path / "models"
    (root / "b-ft-mcip-20260101-120000").mkdir(parents=True)
    (root / ".training-b-ft-mcip-20260101-120000-2").mkdir()  # a run in progress
    assert new_model_id("b", "mcip", "20260101-120000", root=root) == "b-ft-mcip-20260101-120000-3"
    assert new_model_id("b", "mcip", "20260101-120001", root=root) == "b-ft-mcip-20260101-120001"
    (root / "mine").mkdir()  # taken while it trained (another run finishing in the same second)
    result = train(tiny_base, colour_data, method="stage1", epochs=1, device="cpu", models_root=root,
                   model_id="mine", settings=TrainSettings(batch_size=4))
    assert result.model_id == "mine-2" and result.folder is not None and result.folder.path == root / "mine-2"



def test_a_killed_runs_leftovers_are_swept_once_stale(tmp_path: Path) -> None:
    import os
    import time

    from training.install import sweep_stale_work

    old_run, old_export = tmp_path / ".training-a-ft-mcip-1", tmp_path / ".a-ft-mcip-1.export-x1y2"
    fresh, model = tmp_path / ".training-b-ft-mcip-2", tmp_path / "a-ft-mcip-0"
    for d in (old_run, old_export, fresh, model):
        (d / "sub").mkdir(parents=True)
    day_ago = time.time() - 2 * 24 * 3600
    for d in (old_run, old_export, model):
        os.utime(d, (day_ago, day_ago))
    assert sorted(sweep_stale_work(tmp_path)) == sorted([old_run, old_export])
    assert fresh.is_dir() and model.is_dir()  # a run in progress, and an installed model, are kept


def test_cancelled_training_still_produces_a_model(tiny_base: ModelFolder, colour_data, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    cancel = CancelToken()

    def progress(p: Progress) -> None:
        if p.stage == "train" and p.done >= 2:
            cancel.cancel()

    result = train(tiny_base, colour_data, method="mcip", epochs=5, device="cpu", cancel=cancel, progress=progress,
                   settings=TrainSettings(batch_size=4), models_root=tmp_path / "models", export=False)
    assert result.cancelled and result.model is not None
    assert result.stages[0].steps == 2 and set(result.after) == set(result.before)
    with pytest.raises(Cancelled):  # cancelled before any step: nothing worth keeping
        train(tiny_base, colour_data, method="mcip", epochs=1, device="cpu", cancel=cancel,
              settings=TrainSettings(batch_size=4), export=False)


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_tiny_end_to_end_installs_a_loadable_model(tiny_base: ModelFolder, colour_data, tmp_path: Path) -> None:
    events: list[Progress] = []
    result = train(tiny_base, colour_data, method="mcip+realign", epochs=1, device="cpu", progress=events.append,
                   settings=TrainSettings(batch_size=4), models_root=tmp_path / "models")
    folder = result.folder
    assert folder is not None and folder.path.parent == tmp_path / "models"
    assert folder.model_id.startswith("tiny-trainable-ft-mcip+realign-")
    assert folder.has_variant("fp32") and folder.has_variant("int8")
    info = folder.manifest.info
    assert info["base_model"] == "tiny-trainable" and info["method"] == "mcip+realign"
    # measured on the report photos (here none of them has a caption, so no text-to-image numbers)
    assert set(info["before"]) >= {"i2i_map", "zeroshot_acc"} and set(info["after"]) == set(info["before"])
    assert info["report"]["measurable"] is False  # 18 photos: too few to measure a gain, and it says so
    assert info["data"]["classes"] == 3 and info["settings"]["epochs"] == 1
    assert [s["stage"] for s in info["stages"]] == ["mcip", "realign"]
    train_events = [e for e in events if e.stage == "train"]
    assert train_events and train_events[-1].done == train_events[-1].total
    assert any("val_map" in e.metrics for e in train_events)

    encoder = ClipEncoder(folder, RuntimeConfig(device="cpu"))
    pixels = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    assert encoder.encode_images(pixels).shape == (2, 32)
    assert encoder.encode_texts(["a red square"]).shape == (1, 32)
    # it keeps its torch weights: it can be fine-tuned again, and they are the weights that were exported
    _, again = load_base(folder)
    with torch.no_grad():
        ref = torch.nn.functional.normalize(again.encode_image(torch.from_numpy(pixels)), dim=-1).numpy()
    assert np.allclose(ref, ClipEncoder(folder, RuntimeConfig(device="cpu", variant="fp32")).encode_images(pixels),
                       atol=1e-4)
    assert (tiny_base.path / "manifest.json").is_file()  # the base model is kept


def test_cli_trains_on_a_folder_dataset_and_switches_the_library(tiny_base: ModelFolder, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from desktop_app.cli import main
    from engine.library import Library
    from engine.paths import default_library_dir

    photos = _make_photos(tmp_path / "photos", per_class=5)
    broken = photos / "red" / "broken.jpg"  # one corrupt photo is left out and reported, not the end of it
    broken.write_bytes((photos / "red" / "red0.jpg").read_bytes()[:300])
    Library.open(default_library_dir()).close()  # --use switches a library: only `add` (or the window) starts one
    code = main(["train", "--dataset", str(photos), "--base", tiny_base.model_id, "--method", "stage1",
                 "--epochs", "1", "--device", "cpu", "--json", "--use"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["base"] == "tiny-trainable" and out["method"] == "stage1" and out["active"] is True
    assert out["data"]["classes"] == 3 and set(out["after"]) >= {"i2i_map", "zeroshot_acc"}
    assert list(out["data"]["unreadable_photos"]) == [str(broken)]
    assert out["data"]["labelled_photos"] == 15
    assert Path(out["path"], "manifest.json").is_file()
    with Library.open(default_library_dir()) as lib:
        assert lib.active_model_id == out["model"]


@pytest.mark.slow  # 2 s on a 2-core machine: kept out of `-m "not slow"`, run in CI
def test_cli_train_use_switches_the_library_and_computes_the_new_vectors(
        tiny_base: ModelFolder, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from desktop_app.cli import main
    from engine.library import Library
    from engine.paths import default_library_dir

    photos = _make_photos(tmp_path / "photos", per_class=5)
    Library.open(default_library_dir()).close()  # `models use` switches a library: only `add` starts one
    assert main(["models", "use", tiny_base.model_id]) == 0
    assert main(["add", str(photos)]) == 0
    assert main(["index", "--no-tags"]) == 0
    capsys.readouterr()
    assert main(["train", "--method", "stage1", "--epochs", "1", "--device", "cpu", "--use",
                 "--max-per-class", "4"]) == 0
    out, err = capsys.readouterr()
    assert "larger classes sampled to 4 photos each, 3 photos not used" in err
    assert "Measured on 2 held-out photos in 2 albums that chose nothing" in out  # the third one chose
    assert "Your other photos (3 outside the training albums)" in out  # the sampled-out ones
    assert "Too few photos to measure a gain" in out and f"We recommend keeping {tiny_base.model_id}" in out
    with Library.open(default_library_dir()) as lib:
        new = lib.active_model_id
        vectors = lib.catalog.embeddings.models()
    assert new != tiny_base.model_id and f"Active model: {new}" in out
    assert vectors == {tiny_base.model_id: 15, new: 15}  # the new vectors computed, the old ones kept
    assert f"switch back with `photosift models use {tiny_base.model_id}`" in out


def _choose(d: list[float], labels: list[int], choose_se: str) -> float:
    """choose_mix on fixed per-photo APs: 0.9 everywhere at share 1, 0.9 - d at share 0.5."""
    from types import SimpleNamespace

    from training.session import FineTuneSession

    aps = {1.0: np.full(len(d), 0.9), 0.5: 0.9 - np.asarray(d)}
    fake = SimpleNamespace(settings=TrainSettings(choose_se=choose_se), val=SimpleNamespace(labels=np.array(labels)),
                           mix=None)
    fake.set_mix = lambda alpha: setattr(fake, "mix", alpha)
    fake.val_aps = lambda: aps[fake.mix]
    picked = FineTuneSession.choose_mix(fake, (0.5, 1.0))
    assert fake.mix == picked  # the model is left at the share picked
    return picked


def test_choose_rule_counts_albums_not_photos_when_asked() -> None:
    # One album of four loses 0.4 at the half share: photo by photo that loss is "significant" (mean 0.0875 above
    # a standard error of 0.069), album by album it is not (standard error 0.105 from four albums).
    d = [-0.05, -0.05, 0.0, 0.0, 0.0, 0.0, 0.4, 0.4]
    labels = [0, 0, 1, 1, 2, 2, 3, 3]
    assert _choose(d, labels, "photo") == 1.0
    assert _choose(d, labels, "album") == 0.5
    assert _choose([0.3] * 8, labels, "album") == 1.0  # a loss every album shares is seen either way
    assert _choose([0.0] * 8, labels, "photo") == 0.5  # no loss at all: the share nearest the base
