"""A result worse than its base is not installed silently; results carry names people can change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from desktop_app.cli import main
from tests.training.conftest import colour_albums
from training.session import FineTuneSession

pytestmark = pytest.mark.usefixtures("own_models_dir")  # imports and removals stay in this test


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    return colour_albums(tmp_path)


@pytest.fixture
def after_falls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The held-out numbers measured after training (the second snapshot of the report photos of a run) come
    out 0.2 lower than they really are, so the run's result is worse than its base."""
    from dataclasses import replace

    from training import finetune

    real = finetune.snapshot
    calls = []

    def snapshot(session: FineTuneSession):  # type: ignore[no-untyped-def]
        out = real(session)
        calls.append(1)
        if len(calls) % 2 == 0:
            return replace(out, ap=out.ap - 0.2, zeroshot=out.zeroshot - 0.2,
                           recall={k: v - 0.2 for k, v in out.recall.items()})
        return out

    monkeypatch.setattr(finetune, "snapshot", snapshot)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _train(capsys, photos: Path, *extra: str) -> tuple[int, str, str]:
    return _run(capsys, "train", "--base", "tiny-base", "--dataset", str(photos), "--min-photos", "2",
                "--method", "stage1", "--epochs", "1", "--device", "cpu", *extra)


@pytest.mark.slow
def test_a_worse_result_is_not_kept_unless_asked(photos, own_models_dir, capsys, after_falls):
    from training.tiny import export_tiny

    export_tiny(own_models_dir / "tiny-base", model_id="tiny-base")
    code, out, err = _train(capsys, photos)
    assert code == 1 and "Traceback" not in err
    said = [line for line in err.splitlines() if line.startswith("photosift:")]  # besides the data summary
    assert len(said) == 1 and "worse than tiny-base" in said[0] and "--keep-worse" in said[0]
    assert "not kept" in said[0]
    assert "before" in out and "after" in out  # the numbers are shown
    assert sorted(p.name for p in own_models_dir.iterdir()) == ["tiny-base"]  # no model, no work folder

    code, out, err = _train(capsys, photos, "--keep-worse", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["worse"] and result["kept"] and result["name"].startswith("photos, Stage 1, ")
    manifest = json.loads((own_models_dir / result["model"] / "manifest.json").read_text())
    assert manifest["name"] == result["name"] and manifest["info"]["worse_than_base"]
    assert manifest["info"]["description"].startswith("Fine-tuned from tiny-base with Stage 1 on ")


@pytest.mark.slow
def test_results_have_names_and_full_descriptions_and_can_be_renamed(photos, own_models_dir, capsys, monkeypatch):
    from training.tiny import export_tiny

    export_tiny(own_models_dir / "tiny-base", model_id="tiny-base")
    code, out, err = _train(capsys, photos, "--json", "--keep-worse")
    assert code == 0, err
    new = json.loads(out)["model"]
    rows = {r["id"]: r for r in json.loads(_run(capsys, "models", "list", "--json")[1])}
    assert rows[new]["name"].startswith("photos, Stage 1, ") and rows[new]["source"] == "fine-tuned"
    description = rows[new]["description"]
    assert description.startswith("Fine-tuned from tiny-base") and "held-out photos" in description

    monkeypatch.setenv("COLUMNS", "60")
    out = _run(capsys, "models", "list")[1]
    words = " ".join(out.split())
    assert description in words  # shown in full, wrapped
    assert max(len(line) for line in out.splitlines() if "Fine-tuned" in line or "held-out" in line) <= 60

    code, out, err = _run(capsys, "models", "rename", new, "Colour squares,  first try")
    assert code == 0, err
    rows = {r["id"]: r for r in json.loads(_run(capsys, "models", "list", "--json")[1])}
    assert rows[new]["name"] == "Colour squares, first try" and rows["tiny-base"]["name"] == "tiny-base"
    code, _, err = _run(capsys, "models", "rename", new, "")
    assert code == 1 and "1 to 80 characters" in err
    code, _, err = _run(capsys, "models", "rename", "no-such-model", "x")
    assert code == 1 and "no-such-model" in err
