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

    def apply(self, x: torch.Tensor, weights: Factors | torch.Tensor) -> torch.Tensor:
        """x: (Q, N, in). `weights`: the factors, which the N samples of a query share; or, with one
        sample per condition (training), h itself, and the layer is `apply_rows`."""
        if isinstance(weights, torch.Tensor):
            return self.apply_rows(x[:, 0], weights)[:, None]
        a, b = weights
        return self.base(x) + torch.bmm(torch.bmm(x, a), b)

    def apply_rows(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """x: (Q, in), h: (Q, hyper_dim). The same y, contracted through the hypernetwork's weights as
        plain matrix products: no (Q, in, r) factors are built, whose writing, reading and gradients
        cost a training step a fifth to a quarter of its time (benchmarks/bench_train_step.py)."""
        q, rank, hyper_dim = len(x), self.rank, h.shape[1]
        w_a = self.hyper_a.weight.view(self.in_features, rank * hyper_dim)
        xa = ((x @ w_a).view(q, rank, hyper_dim) * h[:, None, :]).sum(-1) + x @ self.hyper_a.bias.view(-1, rank)
        w_b = self.hyper_b.weight.view(rank, self.out_features, hyper_dim).transpose(1, 2)
        outer = (xa[:, :, None] * h[:, None, :]).view(q, rank * hyper_dim)
        return (
            self.base(x)
            + outer @ w_b.reshape(rank * hyper_dim, self.out_features)
            + xa @ self.hyper_b.bias.view(rank, self.out_features)
        )

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.factors(h))
