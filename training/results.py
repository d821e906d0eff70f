"""How a fine-tuning result is named, described and judged against its base.

Import-light (no numpy, no torch): the CLI and the window use it to show a result. A result gets a display
name people can tell apart ("Albums, MCIP, 29 Nov"; `photosift models rename` changes it), a description
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
        return {"folders": "Albums", "tags": "Tags"}.get(rest, rest.capitalize() or "Library")
    if kind == "dataset":
        return rest or "Dataset"
    return source or "Photos"


def display_name(source: str, method: str, when: float | None = None, taken: Collection[str] = ()) -> str:
    """'Albums, MCIP, 29 Nov': what it learnt from, how, and when; 'Albums, MCIP, 29 Nov (2)' when a model of
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
    labels = {"folders": "album folders", "tags": "your tags"}
    source = labels.get(rest, rest) if kind == "library" else f"{kind} {rest}"
    text = (f"Fine-tuned from {base_id} with {METHOD_LABELS.get(method, method)} on {data.get('train_photos', 0)} "
            f"photos in {data.get('classes', 0)} classes ({source.strip()}); measured on "
            f"{data.get('val_photos', 0)} held-out photos:")
    parts = [f"{label} {float(before[k]):.3f} -> {float(after[k]):.3f}" for k, label in HEADLINE.items()
             if k in changes(before, after)]
    text += (" " + ", ".join(parts) + ".") if parts else " no numbers."
    if is_worse(before, after):
        text += " Worse than its base on balance."
    return text
