"""The paper's losses: ArcMargin over class proxies, MCIP's multi-caption loss, symmetric InfoNCE.

All three take L2-normalisable embeddings (they normalise themselves) and return a scalar mean loss.

- ArcMarginHead (ArcFace): cosine to a learnable proxy per class; the true class gets the angular margin
  cos(theta + m); everything is scaled by s; cross-entropy. Defaults s=30, m=0.1 as in the paper
  (fine-tuning uses a softer s=16: TrainSettings.arc_scale).
- multi_caption_loss (MCIP): each image against all captions of the batch. Its own (pseudo-)captions get
  the same angular margin and are the soft targets (uniform over them); plus 0.1 x a hardest-negative
  term. As in the authors' code (Visual-Computing/MCIP, loss.py, TextSoftTargetCrossEntropy) that term
  is the largest of -(1 - t_j) * log p_j over the row: the caption the image is furthest from being
  able to tell apart, which bounds how far any caption is pushed away. Rows without any caption are
  left out of the mean.
- symmetric_info_nce: CLIP's contrastive loss, image->text and text->image, averaged; an optional
  positives matrix turns it multi-positive (soft targets uniform over the positives of a row), so that
  two images sharing one caption are not each other's negatives.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

ARC_SCALE = 30.0
ARC_MARGIN = 0.1
HARD_NEGATIVE_WEIGHT = 0.1


def arc_margin_logits(cosine: torch.Tensor, targets: torch.Tensor, s: float = ARC_SCALE,
                      m: float = ARC_MARGIN) -> torch.Tensor:
    """Scaled logits with cos(theta + m) where `targets` (same shape, 0/1) is set, plain cos elsewhere.

    Past theta = pi - m the margin would no longer be monotone; there ArcFace uses cos - m * sin(m)
    instead (the `th`/`mm` trick of the reference implementation).
    """
    cosine = cosine.float().clamp(-1.0, 1.0)
    sine = torch.sqrt((1.0 - cosine * cosine).clamp(0.0, 1.0))
    phi = cosine * math.cos(m) - sine * math.sin(m)
    phi = torch.where(cosine > math.cos(math.pi - m), phi, cosine - math.sin(math.pi - m) * m)
    targets = targets.to(cosine.dtype)
    return s * (targets * phi + (1.0 - targets) * cosine)


class ArcMarginHead(nn.Module):
    """ArcFace over class proxies (a learnable (classes, dim) weight)."""

    def __init__(self, num_classes: int, dim: int, s: float = ARC_SCALE, m: float = ARC_MARGIN,
                 init: torch.Tensor | None = None) -> None:
        super().__init__()
        self.s = float(s)
        self.m = float(m)
        weight = torch.empty(num_classes, dim)
        if init is not None:
            weight.copy_(init)
        else:
            nn.init.xavier_uniform_(weight)
        self.weight = nn.Parameter(weight)

    def cosine(self, embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(embeddings.float(), dim=-1), F.normalize(self.weight.float(), dim=-1))

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = self.cosine(embeddings)
        one_hot = F.one_hot(labels.long(), cosine.shape[1])
        return F.cross_entropy(arc_margin_logits(cosine, one_hot, self.s, self.m), labels.long())


def multi_caption_loss(image_emb: torch.Tensor, caption_emb: torch.Tensor, targets: torch.Tensor,
                       s: float = ARC_SCALE, m: float = ARC_MARGIN,
                       hard_negative_weight: float = HARD_NEGATIVE_WEIGHT) -> torch.Tensor:
    """MCIP's loss: images (B, D) against the batch's captions (C, D); targets (B, C) is 1 for own captions."""
    cosine = F.normalize(image_emb.float(), dim=-1) @ F.normalize(caption_emb.float(), dim=-1).T
    targets = targets.float()
    logits = arc_margin_logits(cosine, targets, s, m)
    log_p = F.log_softmax(logits, dim=-1)
    counts = targets.sum(1, keepdim=True)
    has = counts.squeeze(1) > 0
    if not bool(has.any()):
        return logits.sum() * 0.0  # keeps the graph; nothing to learn from this batch
    soft = targets / counts.clamp_min(1.0)
    ce = -(soft * log_p).sum(1)
    hardest = (-(1.0 - soft) * log_p).max(1).values
    return (ce + hard_negative_weight * hardest)[has].mean()


def symmetric_info_nce(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: float | torch.Tensor,
                       positives: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of image->text and text->image cross-entropy; positives (B_img, B_txt) default to the diagonal."""
    logits = float(logit_scale) * (F.normalize(image_emb.float(), dim=-1) @ F.normalize(text_emb.float(), dim=-1).T)
    if positives is None:
        if logits.shape[0] != logits.shape[1]:
            raise ValueError("without a positives matrix, images and texts must pair up one to one")
        target = torch.arange(logits.shape[0], device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    pos = positives.float()
    if bool((pos.sum(1) == 0).any()) or bool((pos.sum(0) == 0).any()):
        raise ValueError("every image and every text needs at least one positive")
    loss_i = -(pos / pos.sum(1, keepdim=True) * F.log_softmax(logits, dim=1)).sum(1).mean()
    loss_t = -(pos.T / pos.T.sum(1, keepdim=True) * F.log_softmax(logits.T, dim=1)).sum(1).mean()
    return 0.5 * (loss_i + loss_t)
