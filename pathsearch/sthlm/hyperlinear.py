"""HyperLinear: a linear layer whose weights get a low-rank, condition-dependent (LoRA-style) correction."""

from __future__ import annotations

import torch
from torch import nn

Factors = tuple[torch.Tensor, torch.Tensor]


class HyperLinear(nn.Module):
    """y = x W + b + (x A(h)) B(h), with A, B produced per condition row by a small hypernetwork.

    Factors are made once per condition and shared by all samples of that condition, so
    sampling N embeddings per query costs one hypernetwork call per query, not per sample.
    """

    def __init__(self, in_features: int, out_features: int, hyper_dim: int, rank: int) -> None:
        super().__init__()
        self.in_features, self.out_features, self.rank = in_features, out_features, rank
        self.base = nn.Linear(in_features, out_features)
        self.hyper_a = nn.Linear(hyper_dim, in_features * rank)
        self.hyper_b = nn.Linear(hyper_dim, rank * out_features)
        # LoRA start: the correction is exactly zero until training moves B.
        nn.init.zeros_(self.hyper_b.weight)
        nn.init.zeros_(self.hyper_b.bias)
        nn.init.normal_(self.hyper_a.weight, std=hyper_dim**-0.5 * in_features**-0.5)

    def factors(self, h: torch.Tensor) -> Factors:
        """h: (Q, hyper_dim), one conditioning vector per query -> A (Q, in, r), B (Q, r, out)."""
        a = self.hyper_a(h).view(-1, self.in_features, self.rank)
        b = self.hyper_b(h).view(-1, self.rank, self.out_features)
        return a, b

    def apply(self, x: torch.Tensor, factors: Factors) -> torch.Tensor:
        """x: (Q, N, in): the N samples of a query share its factors."""
        a, b = factors
        return self.base(x) + torch.bmm(torch.bmm(x, a), b)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.factors(h))
