"""Training results a person can manage: a verdict against the base, a display name, a description."""

from __future__ import annotations

import math
import time

import pytest

from training.results import check_name, describe, display_name, is_worse

BEFORE = {"i2i_map": 0.50, "nn1_acc": 0.60, "zeroshot_acc": 0.40, "t2i_r10": 0.30, "t2i_r1": 0.1}


def test_worse_means_the_headline_numbers_fell_on_balance():
    assert not is_worse(BEFORE, dict(BEFORE))
    assert is_worse(BEFORE, {**BEFORE, "nn1_acc": 0.27})  # 1-NN fell 33 points, the rest unchanged
    # image search up a lot, text search down a little (stage 1's usual trade): better on balance
    assert not is_worse(BEFORE, {**BEFORE, "i2i_map": 0.65, "t2i_r10": 0.27})
    assert not is_worse(BEFORE, {**BEFORE, "t2i_r1": 0.0})  # not a headline number
    assert not is_worse({}, {})  # nothing measured: no verdict
    assert not is_worse({"i2i_map": math.nan}, {"i2i_map": 0.1})


def test_display_name_says_what_how_and_when():
    when = time.mktime((2026, 11, 29, 12, 0, 0, 0, 0, -1))
    assert display_name("library:folders", "mcip", when) == "Folders, MCIP, 29 Nov"
    assert display_name("library:tags", "mcip+realign", when) == "Tags, MCIP + realign, 29 Nov"
    assert display_name("library:albums", "mcip", when) == "Albums, MCIP, 29 Nov"  # the albums people made
    assert display_name("dataset:tuxpaint", "stage1", when) == "tuxpaint, Stage 1, 29 Nov"
    when = time.mktime((2026, 12, 3, 12, 0, 0, 0, 0, -1))
    assert display_name("library:folders", "2sft", when) == "Folders, 2SFT, 3 Dec"


def test_description_has_base_method_data_and_before_after():
    data = {"source": "library:folders", "train_photos": 120, "classes": 5, "val_photos": 30, "report_photos": 31}
    text = describe("vits", "mcip", data, BEFORE, {**BEFORE, "i2i_map": 0.61})
    # the numbers are of the report photos (31), not of those that chose the checkpoint (30)
    assert text.startswith("Fine-tuned from vits with MCIP on 120 photos in 5 classes (album folders); measured "
                           "on 31 held-out photos:")
    assert "image-to-image mAP 0.500 -> 0.610" in text and "text-to-image R@10 0.300 -> 0.300" in text
    assert "Worse" not in text
    worse = describe("vits", "mcip", data, BEFORE, {**BEFORE, "nn1_acc": 0.2})
    assert worse.endswith("Worse than its base on balance.")


def test_names_are_one_short_line():
    assert check_name("  Holiday   albums\n") == "Holiday albums"
    for bad in ("", "   ", "x" * 81):
        with pytest.raises(ValueError):
            check_name(bad)


def test_a_second_result_of_the_day_gets_a_name_of_its_own(tmp_path):
    import json

    from engine.modelfolder import installed_names
    from training.tiny import export_tiny

    when = time.mktime((2026, 11, 29, 12, 0, 0, 0, 0, -1))
    first = display_name("library:folders", "mcip", when, taken=installed_names(tmp_path))
    folder = export_tiny(tmp_path / "ft-1", model_id="ft-1")
    manifest = json.loads((folder.path / "manifest.json").read_text())
    (folder.path / "manifest.json").write_text(json.dumps({**manifest, "name": first}))
    export_tiny(tmp_path / "unnamed", model_id="unnamed")
    assert installed_names(tmp_path) == {"Folders, MCIP, 29 Nov", "unnamed"}
    second = display_name("library:folders", "mcip", when, taken=installed_names(tmp_path))
    assert (first, second) == ("Folders, MCIP, 29 Nov", "Folders, MCIP, 29 Nov (2)")
    assert display_name("library:folders", "mcip", when, taken={first, second}) == "Folders, MCIP, 29 Nov (3)"
