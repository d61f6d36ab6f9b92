"""Projector heads that map one frozen encoder's features into the shared space.

Every head takes the same inputs -- pooled features (B, D), and for the token head also
token features (B, T, Dt) with their mask (B, T) -- so the trainer and the saved model
never need to know which kind they hold.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from alignkit.align.recipe import HeadConfig


class Standardize(nn.Module):
    """Fixed per-dimension centring and scaling, fitted once on the training features.

    Frozen features are often far from zero-mean (post-activation CNN features are all
    positive); centring them makes cosine similarity in the head's input meaningful.
    """

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def fit(self, features: torch.Tensor, scale: bool = True) -> None:
        """Fit the mean (and, with ``scale``, the per-dimension std; otherwise std stays 1)."""
        self.mean.copy_(features.mean(0))
        if scale:
            self.std.copy_(features.std(0).clamp(min=1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ResidualMLP(nn.Module):
    """LayerNorm, then a linear branch plus a GELU MLP branch (with dropout), summed."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.linear = nn.Linear(in_dim, out_dim)
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim)
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.norm(x))
        return self.linear(x) + self.mlp(x)


class Head(nn.Module):
    """Base: ``forward(pooled, tokens=None, mask=None) -> (B, out_dim)`` (not normalised)."""

    uses_tokens = False

    def __init__(self, in_dim: int, out_dim: int, standardize: bool, center: bool = False):
        super().__init__()
        self.in_dim = in_dim
        self.out_dim = out_dim
        # centring only keeps the encoder's geometry (cosines of centred features); standardising rescales dimensions
        self.standardize = Standardize(in_dim) if standardize or center else None
        self.scale_inputs = bool(standardize)

    def prepare(self, pooled: torch.Tensor) -> torch.Tensor:
        return pooled if self.standardize is None else self.standardize(pooled)


class LinearHead(Head):
    def __init__(self, in_dim: int, out_dim: int, standardize: bool = False):
        super().__init__(in_dim, out_dim, standardize)
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(self.prepare(pooled))


class MLPHead(Head):
    """The paper's residual projector on pooled features."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, dropout: float, standardize: bool = False):
        super().__init__(in_dim, out_dim, standardize)
        self.block = ResidualMLP(in_dim, out_dim, hidden, dropout)

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.block(self.prepare(pooled))


class TokenHead(Head):
    """Token-level head: a residual MLP applied to every token, averaged over the real
    tokens (masked mean), plus a separate residual MLP on the pooled (CLS) feature; summed."""

    uses_tokens = True

    def __init__(self, in_dim: int, token_dim: int, out_dim: int, hidden: int, dropout: float, standardize: bool = False):
        super().__init__(in_dim, out_dim, standardize)
        self.token_dim = token_dim
        self.per_token = ResidualMLP(token_dim, out_dim, hidden, dropout)
        self.cls = ResidualMLP(in_dim, out_dim, hidden, dropout)

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        if tokens is None:
            raise ValueError("a token head needs token features; embed with --tokens or train with --online")
        per_token = self.per_token(tokens)
        if mask is None:
            body = per_token.mean(1)
        else:
            m = mask.to(per_token.dtype).unsqueeze(-1)
            body = (per_token * m).sum(1) / m.sum(1).clamp(min=1.0)
        return body + self.cls(self.prepare(pooled))


class ResidualHead(Head):
    """A linear map of the centred features plus a GELU MLP branch whose last layer starts at zero:
    training starts exactly where the linear map is, which can be a closed-form solution
    (``AlignConfig.init = "procrustes"``), and learns a correction to it."""

    def __init__(self, in_dim: int, out_dim: int, hidden: int, dropout: float):
        super().__init__(in_dim, out_dim, standardize=False, center=True)
        self.linear = nn.Linear(in_dim, out_dim)
        self.mlp = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)
        self.dropout = nn.Dropout(dropout)

    def set_linear(self, weight: torch.Tensor) -> None:
        """Start the linear branch at ``x_centred @ weight`` (weight: (in_dim, out_dim)), no bias."""
        with torch.no_grad():
            self.linear.weight.copy_(weight.T)
            self.linear.bias.zero_()

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.prepare(pooled)
        return self.linear(self.dropout(x)) + self.mlp(x)


class IdentityHead(Head):
    """No projection: this side's features (centred or standardised if asked) are the shared space
    (the other side maps into it)."""

    def __init__(self, in_dim: int, standardize: bool = False, center: bool = False):
        super().__init__(in_dim, in_dim, standardize, center)

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.prepare(pooled)


class EnsembleHead(Head):
    """K independently initialised heads of one kind. The output is their unit vectors side by
    side, each scaled by 1/sqrt(K): a cosine between two outputs is the members' mean cosine,
    and each member can still be trained with its own loss (``members_of``)."""

    def __init__(self, members: list[Head]):
        super().__init__(members[0].in_dim, members[0].out_dim * len(members), standardize=False)
        self.members = nn.ModuleList(members)
        self.uses_tokens = members[0].uses_tokens

    def forward(self, pooled: torch.Tensor, tokens: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        scale = 1.0 / math.sqrt(len(self.members))
        return torch.cat([F.normalize(m(pooled, tokens, mask).float(), dim=-1) * scale for m in self.members], dim=-1)


def members_of(z: torch.Tensor, k: int) -> list[torch.Tensor]:
    """Split (B, K*D) ensemble outputs into the K members' unit vectors."""
    return [F.normalize(part, dim=-1) for part in z.chunk(k, dim=-1)] if k > 1 else [z]


def build_head(cfg: HeadConfig, in_dim: int, out_dim: int, token_dim: int | None = None, members: int = 1) -> Head:
    """A head from its config; ``out_dim`` is ignored by ``identity`` (its width is ``in_dim``).
    ``members > 1`` gives an ensemble of that many heads, each as wide as one would be."""
    if members > 1:
        return EnsembleHead([build_head(cfg, in_dim, out_dim, token_dim) for _ in range(members)])
    hidden = cfg.hidden or 2 * out_dim
    if cfg.kind == "linear":
        return LinearHead(in_dim, out_dim, cfg.standardize)
    if cfg.kind == "mlp":
        return MLPHead(in_dim, out_dim, hidden, cfg.dropout, cfg.standardize)
    if cfg.kind == "token":
        if token_dim is None:
            raise ValueError("a token head needs the token feature width")
        return TokenHead(in_dim, token_dim, out_dim, hidden, cfg.dropout, cfg.standardize)
    if cfg.kind == "identity":
        return IdentityHead(in_dim, cfg.standardize, cfg.center)
    if cfg.kind == "residual":
        return ResidualHead(in_dim, out_dim, hidden, cfg.dropout)
    raise ValueError(f"unknown head kind {cfg.kind!r}")


def shared_width(image: HeadConfig, text: HeadConfig, image_dim: int, text_dim: int, embed_dim: int) -> int:
    """The joint space's width: the identity side's feature width if there is one, else ``embed_dim``."""
    if image.kind == "identity":
        return image_dim
    if text.kind == "identity":
        return text_dim
    return embed_dim
