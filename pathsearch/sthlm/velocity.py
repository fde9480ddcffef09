"""Velocity network v(x_t, t, c) for conditional flow matching, built from HyperLinear layers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from pathsearch.sthlm.hyperlinear import Factors, HyperLinear


class NetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dim: int = Field(ge=1)
    cond_dim: int = Field(ge=1)
    width: int = Field(default=256, ge=8)
    depth: int = Field(default=2, ge=1)
    rank: int = Field(default=8, ge=1)
    hyper_dim: int = Field(default=64, ge=8)
    time_dim: int = Field(default=32, ge=4)


class TimeEmbedding(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        half = dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(1000.0) * torch.arange(half) / half), persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        angles = t[:, None] * self.freqs[None] * 1000.0
        return torch.cat([angles.sin(), angles.cos()], dim=1)


class VelocityNet(nn.Module):
    """Condition and time make one vector h per query; every HyperLinear reads its weights off h."""

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        w, hd = config.width, config.hyper_dim
        self.null_cond = nn.Parameter(torch.zeros(config.cond_dim))
        self.cond_mlp = nn.Sequential(nn.Linear(config.cond_dim, hd), nn.SiLU(), nn.Linear(hd, hd))
        self.cond_proj = nn.Linear(config.cond_dim, w)
        self.time_mlp = nn.Sequential(TimeEmbedding(config.time_dim), nn.Linear(config.time_dim, hd))
        self.x_in = HyperLinear(config.dim, w, hd, config.rank)
        self.blocks = nn.ModuleList(HyperLinear(w, w, hd, config.rank) for _ in range(config.depth))
        self.norms = nn.ModuleList(nn.LayerNorm(w) for _ in range(config.depth + 1))
        self.out = HyperLinear(w, config.dim, hd, config.rank)

    def condition(self, c: torch.Tensor, drop: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-query features, computed once and reused at every Euler step; `drop` marks null conditions."""
        if drop is not None:
            c = torch.where(drop[:, None], self.null_cond.expand_as(c), c)
        return self.cond_mlp(c), self.cond_proj(c)

    def layer_factors(self, cond_h: torch.Tensor, t: torch.Tensor) -> list[Factors]:
        """Every layer's low-rank factors for conditions cond_h (B, hyper_dim) at times t (B,)."""
        h = self._hyper_input(cond_h, t)
        return [layer.factors(h) for layer in (self.x_in, *self.blocks, self.out)]

    def velocity(
        self, x: torch.Tensor | None, cond_x: torch.Tensor, weights: Sequence[Factors | torch.Tensor]
    ) -> torch.Tensor:
        """`weights`: per layer, its factors, or the hypernetwork's input h (`HyperLinear.apply`).
        x None is the origin, where the control reads the network: the first layer is its bias there."""
        first = self.x_in.base.bias if x is None else self.x_in.apply(x, weights[0])
        z = first + cond_x[:, None, :]
        for norm, block, w in zip(self.norms[:-1], self.blocks, weights[1:-1], strict=True):
            z = z + block.apply(nn.functional.silu(norm(z)), w)
        return self.out.apply(nn.functional.silu(self.norms[-1](z)), weights[-1])

    def forward(self, x: torch.Tensor | None, t: torch.Tensor, cond: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """x: (Q, N, dim), or None for the origin (one sample); t: (Q,); cond from `condition`.
        Returns the velocity, shaped like x."""
        cond_h, cond_x = cond
        if x is not None and x.shape[1] > 1:
            return self.velocity(x, cond_x, self.layer_factors(cond_h, t))
        # One sample per condition (every training step): factors would be built for a single use.
        return self.velocity(x, cond_x, [self._hyper_input(cond_h, t)] * (len(self.blocks) + 2))

    def _hyper_input(self, cond_h: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return nn.functional.silu(cond_h + self.time_mlp(t))
