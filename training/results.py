"""How a fine-tuning result is named, described and judged against its base.

Import-light (no numpy, no torch): the CLI and the window use it to show a result. A result gets a display
name people can tell apart ("Folders, MCIP, 29 Nov"; `photosift models rename` changes it), a description
with its base, method, data and before/after numbers, and a verdict: worse than its base when its held-out
numbers fell on balance (the mean change over the headline metrics measured both times is below zero).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping
from typing import Any

METHOD_LABELS = {"stage1": "Stage 1", "2sft": "2SFT", "mcip": "MCIP", "mcip+realign": "MCIP + realign"}
HEADLINE = {"i2i_map": "image-to-image mAP", "nn1_acc": "1-NN accuracy", "zeroshot_acc": "zero-shot accuracy",
            "t2i_r10": "text-to-image R@10"}
MAX_NAME = 80


def _source_label(source: str) -> str:
    kind, _, rest = source.partition(":")
    if kind == "library":
        return {"folders": "Folders", "tags": "Tags", "albums": "Albums"}.get(rest, rest.capitalize() or "Library")
    if kind == "dataset":
        return rest or "Dataset"
    return source or "Photos"


def display_name(source: str, method: str, when: float | None = None, taken: Collection[str] = ()) -> str:
    """'Folders, MCIP, 29 Nov': what it learnt from, how, and when; 'Folders, MCIP, 29 Nov (2)' when a model of
    that name is already installed (`taken`), so two runs of a day stay apart in lists."""
    day = time.strftime("%d %b", time.localtime(when)).lstrip("0")
    name = f"{_source_label(source)}, {METHOD_LABELS.get(method, method)}, {day}"
    n = 1
    while (candidate := name if n == 1 else f"{name} ({n})") in taken:
        n += 1
    return candidate


def check_name(name: str) -> str:
    """A display name: one line of at most MAX_NAME characters, not empty."""
    cleaned = " ".join(str(name).split())
    if not cleaned or len(cleaned) > MAX_NAME:
        raise ValueError(f"a model name is one line of 1 to {MAX_NAME} characters")
    return cleaned


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, float]:
    """after - before for each headline metric measured both times (NaN and missing ones left out)."""
    out = {}
    for key in HEADLINE:
        b, a = before.get(key), after.get(key)
        if isinstance(b, (int, float)) and isinstance(a, (int, float)) and not (math.isnan(b) or math.isnan(a)):
            out[key] = float(a) - float(b)
    return out


def is_worse(before: Mapping[str, Any], after: Mapping[str, Any]) -> bool:
    """Worse than the base on balance: the mean change of the headline held-out numbers is below zero."""
    delta = changes(before, after)
    return bool(delta) and sum(delta.values()) / len(delta) < 0


def describe(base_id: str, method: str, data: Mapping[str, Any], before: Mapping[str, Any],
             after: Mapping[str, Any]) -> str:
    """One paragraph: base, method, data and the before -> after numbers on the held-out photos."""
    kind, _, rest = str(data.get("source", "")).partition(":")
    labels = {"folders": "album folders", "tags": "your tags", "albums": "your albums"}
    source = labels.get(rest, rest) if kind == "library" else f"{kind} {rest}"
    text = (f"Fine-tuned from {base_id} with {METHOD_LABELS.get(method, method)} on {data.get('train_photos', 0)} "
            f"photos in {data.get('classes', 0)} classes ({source.strip()}); measured on "
            f"{data.get('report_photos', 0)} held-out photos:")  # the photos the numbers are of (report_notes)
    parts = [f"{label} {float(before[k]):.3f} -> {float(after[k]):.3f}" for k, label in HEADLINE.items()
             if k in changes(before, after)]
    text += (" " + ", ".join(parts) + ".") if parts else " no numbers."
    if is_worse(before, after):
        text += " Worse than its base on balance."
    return text


# ---------------------------------------------------------------------------------------------------------
# The report (training.report.compare) in words, for the CLI and the window

REPORT_ROWS = (("i2i_map", "image-to-image mAP"), ("zeroshot_acc", "zero-shot accuracy"),
               ("t2i_r1", "text-to-image R@1"), ("t2i_r5", "text-to-image R@5"), ("t2i_r10", "text-to-image R@10"))


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not math.isnan(v)


def change_text(m: Mapping[str, Any]) -> str:
    """'+6.1 ± 4.0 points' (95% interval), '+6.1 points' when there is no interval, '' when not measured."""
    change, half = m.get("change"), m.get("interval")
    if not _finite(change):
        return ""
    text = f"{float(change) * 100:+.1f}"
    return text + (f" ± {float(half) * 100:.1f} points" if _finite(half) else " points")


def _label(key: str) -> str:
    return dict(REPORT_ROWS).get(key, key)


def report_headline(report: Mapping[str, Any]) -> list[str]:
    """The headline metrics (HEADLINE) the report measured both times: the ones a verdict weighs."""
    metrics = report.get("metrics", {})
    return [k for k in HEADLINE if k in metrics and _finite(metrics[k].get("change"))]


def report_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str, bool]]:
    """(label, before, after, change ± interval, worse) per measured metric."""
    rows = []
    for key, label in REPORT_ROWS:
        m = report.get("metrics", {}).get(key)
        if not m:
            continue
        b, a = m.get("before"), m.get("after")
        rows.append((label, f"{b:.3f}" if _finite(b) else "n/a", f"{a:.3f}" if _finite(a) else "n/a",
                     change_text(m), bool(m.get("worse"))))
    return rows


def report_notes(report: Mapping[str, Any], data: Mapping[str, Any], base_id: str, way_back: str = "") -> list[str]:
    """The sentences around the table: what the numbers are measured on, what fell (and, when the result is
    kept all the same, why: what rose, by how much; then `way_back`), the other photos, small albums, and
    whether a gain could be measured at all."""
    notes = []
    n, albums = int(report.get("report_photos", 0)), int(report.get("albums", 0))
    notes.append(f"Measured on {n} held-out photos in {albums} albums that chose nothing (the checkpoint and the "
                 f"mix were chosen on {data.get('val_photos', 0)} other held-out photos); ± is a 95% interval.")
    metrics = report.get("metrics", {})
    worse = [key for key, _ in REPORT_ROWS if key in report.get("worse", [])]
    if worse:
        fell = "WORSE than before on " + ", ".join(f"{_label(k)} ({change_text(metrics[k])})" for k in worse)
        # the verdict of is_worse: the mean change of the headline numbers (those of the report's verdict)
        headline = {k: float(metrics[k]["change"]) for k in report_headline(report)}
        balance = sum(headline.values()) / len(headline) if headline else math.nan
        if _finite(balance) and balance >= 0:
            rose = [f"{_label(k)} {float(v) * 100:+.1f} points" for k, v in headline.items() if v > 0]
            fell += (f"; kept because it is better on balance: {', '.join(rose) or 'no number fell on balance'} "
                     f"(mean change {balance * 100:+.1f} points)" + (f"; {way_back}" if way_back else ""))
        notes.append(fell + ".")
    other = report.get("other")
    if other:
        notes.append(f"Your other photos ({other['photos']} outside the training albums): "
                     f"{float(other['kept']) * 100:.0f}% of their {other['neighbours']} nearest photos are the same "
                     "as before.")
    elif data.get("other_photos", 0) == 0:
        notes.append("Your other photos: none outside the training albums, so no change to them to measure.")
    small = data.get("train_only_classes") or {}
    if small:
        listed = ", ".join(f"{k} ({v})" for k, v in list(small.items())[:6]) + (", ..." if len(small) > 6 else "")
        albums = "1 album" if len(small) == 1 else f"{len(small)} albums"
        notes.append(f"{albums} with 2-3 photos trained (as extra pairs of alike photos) but "
                     f"{'is' if len(small) == 1 else 'are'} too small to measure: {listed}.")
    mix = report.get("mix")
    if _finite(mix) and float(mix) < 1:
        notes.append(f"The new image weights are {float(mix) * 100:.0f}% fine-tuned, {100 - float(mix) * 100:.0f}% "
                     "the base's (WiSE-FT), which keeps what the base knew about other photos.")
    if not report.get("measurable", True):
        notes.append(f"Too few photos to measure a gain ({report.get('reason', '')}): the numbers above could be "
                     f"luck. We recommend keeping {base_id}.")
    return notes
