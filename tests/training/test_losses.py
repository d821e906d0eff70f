"""The paper's losses against values worked out by hand (numpy) on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from training.losses import ArcMarginHead, arc_margin_logits, multi_caption_loss, symmetric_info_nce


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def test_arc_margin_on_known_angles() -> None:
    # Unit embeddings at known angles to two unit proxies: cos = 0.8 to class 0, 0.6 to class 1.
    head = ArcMarginHead(2, 2, s=30.0, m=0.1, init=torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    emb = torch.tensor([[0.8, 0.6], [1.6, 1.2]])  # the second is the same direction, twice as long
    labels = torch.tensor([0, 1])
    loss = head(emb, labels).item()

    phi0 = 0.8 * math.cos(0.1) - 0.6 * math.sin(0.1)  # cos(theta + m) for the true class
    phi1 = 0.6 * math.cos(0.1) - 0.8 * math.sin(0.1)
    row0 = 30 * np.array([phi0, 0.6])
    row1 = 30 * np.array([0.8, phi1])
    expected = -(_log_softmax(row0)[0] + _log_softmax(row1)[1]) / 2
    assert loss == pytest.approx(expected, rel=1e-5)


def test_arc_margin_past_pi_minus_m_uses_the_linear_fallback() -> None:
    cos = torch.tensor([[-0.999]])  # theta > pi - m
    got = arc_margin_logits(cos, torch.ones(1, 1), s=1.0, m=0.1).item()
    assert got == pytest.approx(-0.999 - math.sin(math.pi - 0.1) * 0.1, rel=1e-6)
    assert arc_margin_logits(cos, torch.zeros(1, 1), s=1.0, m=0.1).item() == pytest.approx(-0.999)


def test_arc_margin_head_learns_its_proxies() -> None:
    torch.manual_seed(0)
    head = ArcMarginHead(3, 4)
    emb = torch.randn(6, 4)
    head(emb, torch.tensor([0, 1, 2, 0, 1, 2])).backward()
    assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0


def test_multi_caption_loss_matches_hand_computation() -> None:
    img = np.array([[1.0, 0.0], [0.0, 1.0]])
    a = math.radians(30)
    cap = np.array([[1.0, 0.0], [math.cos(a), math.sin(a)], [0.0, 1.0]])
    targets = np.array([[1, 1, 0], [0, 0, 1]], dtype=np.float64)
    got = multi_caption_loss(torch.tensor(img), torch.tensor(cap), torch.tensor(targets), s=30, m=0.1,
                             hard_negative_weight=0.1).item()

    cos = img @ cap.T
    sin = np.sqrt(1 - cos**2)
    phi = cos * math.cos(0.1) - sin * math.sin(0.1)
    logits = 30 * np.where(targets > 0, phi, cos)
    logp = _log_softmax(logits)
    soft = targets / targets.sum(1, keepdims=True)
    per_row = -(soft * logp).sum(1) + 0.1 * (-(1 - soft) * logp).max(1)
    assert got == pytest.approx(per_row.mean(), rel=1e-5)


def test_multi_caption_loss_skips_images_without_captions() -> None:
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    cap = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    both = multi_caption_loss(img, cap, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    first_only = multi_caption_loss(img[:1], cap, torch.tensor([[1.0, 0.0]]))
    skipped = multi_caption_loss(img, cap, torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    assert skipped.item() == pytest.approx(first_only.item(), rel=1e-6)
    assert both.item() == pytest.approx(first_only.item(), rel=1e-6)  # symmetric example
    empty = multi_caption_loss(img, cap, torch.zeros(2, 2))
    assert empty.item() == 0.0


def test_symmetric_info_nce_matches_hand_computation() -> None:
    img = np.array([[1.0, 0.0], [0.6, 0.8]])
    txt = np.array([[0.8, 0.6], [0.0, 1.0]])
    got = symmetric_info_nce(torch.tensor(img), torch.tensor(txt), 10.0).item()
    logits = 10 * img @ txt.T
    i2t = -np.diag(_log_softmax(logits)).mean()
    t2i = -np.diag(_log_softmax(logits.T)).mean()
    assert got == pytest.approx((i2t + t2i) / 2, rel=1e-6)


def test_symmetric_info_nce_with_shared_caption() -> None:
    # Two images share caption 0; caption 1 belongs to image 2.
    img = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])
    txt = np.array([[1.0, 0.0], [0.0, 1.0]])
    pos = np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float64)
    got = symmetric_info_nce(torch.tensor(img), torch.tensor(txt), 5.0, torch.tensor(pos)).item()
    logits = 5 * img @ txt.T
    i2t = -(pos / pos.sum(1, keepdims=True) * _log_softmax(logits)).sum(1).mean()
    t2i = -(pos.T / pos.T.sum(1, keepdims=True) * _log_softmax(logits.T)).sum(1).mean()
    assert got == pytest.approx((i2t + t2i) / 2, rel=1e-6)
    with pytest.raises(ValueError):
        symmetric_info_nce(torch.tensor(img), torch.tensor(txt), 5.0, torch.zeros(3, 2))
