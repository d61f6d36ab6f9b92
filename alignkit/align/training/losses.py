"""Contrastive losses over a batch of matched (image, text) embeddings.

Both losses take L2-normalised embeddings of this rank's rows plus a pair id per row
(rows with the same id are positives for each other: one image seen with two of its
captions in one batch is not its own negative). Under DDP they gather every rank's rows
with gradients and return this rank's share scaled so that averaging gradients over
ranks gives exactly the single-process gradient of the global-batch loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from alignkit.align.training.distributed import gather_no_grad, gather_with_grad


class ContrastiveLoss(nn.Module):
    """Holds the learnable logit scale (1 / temperature), clamped to ``max_logit_scale``."""

    def __init__(self, init_temperature: float, learn_temperature: bool, max_logit_scale: float):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)), requires_grad=learn_temperature)
        self.max_log_scale = math.log(max_logit_scale)

    def clamp_(self) -> None:
        """Keep the temperature in range; called after every optimiser step."""
        with torch.no_grad():
            self.logit_scale.clamp_(0.0, self.max_log_scale)

    @property
    def temperature(self) -> float:
        return float(torch.exp(-self.logit_scale.detach()))

    def _gathered(self, image: torch.Tensor, text: torch.Tensor, ids: torch.Tensor):
        return gather_with_grad(image), gather_with_grad(text), gather_no_grad(ids)

    @staticmethod
    def positives(ids: torch.Tensor, all_ids: torch.Tensor) -> torch.Tensor:
        return ids[:, None] == all_ids[None, :]


class InfoNCELoss(ContrastiveLoss):
    """Symmetric cross-entropy (image->text and text->image), as in CLIP."""

    def forward(self, image: torch.Tensor, text: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        all_image, all_text, all_ids = self._gathered(image, text, ids)
        scale = self.logit_scale.exp()
        target = self.positives(ids, all_ids).to(image.dtype)
        target = target / target.sum(1, keepdim=True)
        i2t = -(target * F.log_softmax(scale * image @ all_text.T, dim=1)).sum(1).mean()
        t2i = -(target * F.log_softmax(scale * text @ all_image.T, dim=1)).sum(1).mean()
        return (i2t + t2i) / 2


class SigLIPLoss(ContrastiveLoss):
    """Pairwise sigmoid loss with a learnable bias (Zhai et al., 2023), summed over
    columns and averaged over this rank's image rows."""

    def __init__(self, init_temperature: float, learn_temperature: bool, max_logit_scale: float, bias_init: float):
        super().__init__(init_temperature, learn_temperature, max_logit_scale)
        self.logit_bias = nn.Parameter(torch.tensor(float(bias_init)))

    def forward(self, image: torch.Tensor, text: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        _, all_text, all_ids = self._gathered(image, text, ids)
        logits = self.logit_scale.exp() * image @ all_text.T + self.logit_bias
        signs = self.positives(ids, all_ids).to(image.dtype) * 2 - 1
        return -F.logsigmoid(signs * logits).sum() / image.shape[0]


def build_loss(name: str, init_temperature: float, learn_temperature: bool, max_logit_scale: float, siglip_bias_init: float) -> ContrastiveLoss:
    if name == "infonce":
        return InfoNCELoss(init_temperature, learn_temperature, max_logit_scale)
    if name == "siglip":
        return SigLIPLoss(init_temperature, learn_temperature, max_logit_scale, siglip_bias_init)
    raise ValueError(f"unknown loss {name!r}")



def structure_divergence(original: torch.Tensor, aligned: torch.Tensor, levels: int = 1, temperature: float = 0.1) -> torch.Tensor:
    """How far a batch's neighbourhood structure moved from the frozen space to the joint one.

    The STRUCTURE regulariser (Groeger et al., NeurIPS 2025): each space's rows become a
    random walk over the batch (softmax of centred cosine similarity over ``temperature``);
    the walks of 1..``levels`` steps are compared by Jensen-Shannon divergence, step ``l``
    weighted 1/l, and averaged. Keeping the heads close to the encoders' own geometry is what
    should carry a small training set to drawings and concepts it never saw.
    """
    def walk(x: torch.Tensor) -> torch.Tensor:
        x = F.normalize(x.float(), dim=-1)
        x = x - x.mean(0, keepdim=True)
        return torch.softmax(x @ x.T / temperature, dim=-1)

    p, q = walk(original), walk(aligned)
    total = original.new_zeros((), dtype=torch.float32)
    pl, ql = p, q
    for level in range(1, levels + 1):
        if level > 1:
            pl, ql = pl @ p, ql @ q
        m = (0.5 * (pl + ql)).clamp_min(1e-12)
        js = 0.5 * ((pl * (pl.clamp_min(1e-12) / m).log()).sum(1) + (ql * (ql.clamp_min(1e-12) / m).log()).sum(1))
        total = total + js.mean() / level
    return total / levels
