"""Conditional flow matching (and the control's plain regression) with early stopping on held-out pairs."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from pathsearch.errors import PathsearchError
from pathsearch.sthlm.model import ModelKind, Predict, STHLMModel, new_model
from pathsearch.sthlm.pairs import Pairs, label_pairs

PAIRS_PER_TILE = 8  # same-label pairs drawn per tile of a labelled bank


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    residual: bool = True
    predict: Predict = "x1"
    noise_scale: float = Field(default=1.0, gt=0)
    cond_dropout: float = Field(default=0.1, ge=0, lt=1)
    width: int = Field(default=256, ge=8)
    depth: int = Field(default=2, ge=1)
    rank: int = Field(default=8, ge=1)
    hyper_dim: int = Field(default=64, ge=8)
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=1e-4, ge=0)
    batch_size: int = Field(default=256, ge=1)
    max_epochs: int = Field(default=300, ge=1)
    # An epoch is at most this many batches, so patience, the schedule and the validation cadence count
    # work rather than passes: large qrels (100k pairs) stop in minutes, not hours; small ones see every pair.
    max_batches_per_epoch: int = Field(default=20, ge=1)
    patience: int = Field(default=30, ge=1)
    val_fraction: float = Field(default=0.1, ge=0, lt=1)
    # A few thousand held-out pairs measure the loss well enough; more only slow every epoch down.
    max_val_pairs: int = Field(default=2000, ge=1)
    val_repeats: int = Field(default=4, ge=1)
    seed: int = 0


@dataclass(frozen=True)
class TrainReport:
    epochs: int
    best_epoch: int
    train_loss: list[float]
    val_loss: list[float]
    seconds: float


EpochCallback = Callable[[int, float, float], None]
CheckpointCallback = Callable[[int, STHLMModel], None]


def train(
    pairs: Pairs,
    kind: ModelKind,
    config: TrainConfig | None = None,
    on_epoch: EpochCallback | None = None,
    on_checkpoint: CheckpointCallback | None = None,
) -> tuple[STHLMModel, TrainReport]:
    """Train a flow (STHLM) or control model; keeps the weights of the best validation epoch.

    `on_checkpoint(epoch, model)` sees the model in eval mode after every epoch, for criteria the
    validation loss cannot express (retrieval on held-out queries)."""
    config = config or TrainConfig()
    torch.manual_seed(config.seed)
    start = time.perf_counter()
    model = new_model(
        pairs.target.shape[1],
        pairs.cond.shape[1],
        kind,
        config.residual,
        config.noise_scale,
        config.predict,
        width=config.width,
        depth=config.depth,
        rank=config.rank,
        hyper_dim=config.hyper_dim,
    )
    train_set, val_set = pairs.split(config.val_fraction, config.seed, config.max_val_pairs)
    c, x = _tensors(train_set)
    val = _fixed_draws(model, val_set, config) if len(val_set) else None
    net = model.net.train()
    # One fused kernel per step instead of a loop of elementwise ops per tensor: a third of a small step's time.
    optim = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, T_max=config.max_epochs)
    gen = torch.Generator().manual_seed(config.seed)
    best, best_epoch, train_hist, val_hist = float("inf"), 0, [], []
    best_state = copy.deepcopy(net.state_dict())
    rows_per_epoch = min(len(c), config.batch_size * config.max_batches_per_epoch)
    for epoch in range(config.max_epochs):
        order = torch.randperm(len(c), generator=gen)[:rows_per_epoch]
        total = 0.0
        for rows in order.split(config.batch_size):
            draws = _draws(model, c[rows], x[rows], config, gen, training=True)
            loss = _loss(model, *draws)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()
            total += loss.item() * len(rows)
        sched.step()
        train_hist.append(total / rows_per_epoch)
        with torch.no_grad():
            net.eval()
            if val is not None:
                val_hist.append(_loss(model, *val).item())
            if on_checkpoint is not None:
                on_checkpoint(epoch, model)
            net.train()
        score = val_hist[-1] if val is not None else train_hist[-1]
        if score < best:
            best, best_epoch, best_state = score, epoch, copy.deepcopy(net.state_dict())
        if on_epoch is not None:
            on_epoch(epoch, train_hist[-1], score)
        if epoch - best_epoch >= config.patience:
            break
    net.load_state_dict(best_state)
    net.eval()
    report = TrainReport(len(train_hist), best_epoch, train_hist, val_hist, time.perf_counter() - start)
    return model, report


def train_on_labels(
    vectors: np.ndarray,
    labels: list[str],
    seed: int,
    pairs_per_item: int = PAIRS_PER_TILE,
    extra: Sequence[Pairs] = (),
    kind: ModelKind = "flow",
) -> STHLMModel:
    """STHLM (or its control) for a labelled bank: 'what else this class looks like', from same-label
    pairs plus `extra`.

    Labelled banks (few-shot supports, tile reference sets) are small: shorter training, smaller batches."""
    pairs = Pairs.concat([label_pairs(vectors, labels, pairs_per_item, seed), *extra])
    if len(pairs) < 2:
        raise PathsearchError("too few labelled tiles to train STHLM: give two or more tiles per class")
    model, _ = train(pairs, kind, TrainConfig(max_epochs=200, patience=30, batch_size=128, seed=seed))
    return model


Draws = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]


def _draws(
    model: STHLMModel, c: torch.Tensor, x: torch.Tensor, config: TrainConfig, gen: torch.Generator, training: bool
) -> Draws:
    """(condition, dropped, x_t, t, target) for one batch; the target is the velocity or x1 (as the model
    predicts), or x for the control, which reads the network at the origin (x_t None) and t=0."""
    y1 = model.to_data(x, c)
    n = len(c)
    drop = torch.rand(n, generator=gen) < (config.cond_dropout if training else 0.0)
    if model.kind == "control":
        return c, torch.zeros(n, dtype=torch.bool), None, torch.zeros(n), y1
    y0 = torch.randn(y1.shape, generator=gen) * model.noise_scale
    t = torch.rand(n, generator=gen)
    yt = (1 - t[:, None]) * y0 + t[:, None] * y1
    return c, drop, yt, t, (y1 if model.predict_target == "x1" else y1 - y0)


def _loss(
    model: STHLMModel, c: torch.Tensor, drop: torch.Tensor, yt: torch.Tensor | None, t: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    pred = model.net(None if yt is None else yt[:, None, :], t, model.net.condition(c, drop))[:, 0]
    return torch.nn.functional.mse_loss(pred, target)


def _fixed_draws(model: STHLMModel, val_set: Pairs, config: TrainConfig) -> Draws:
    """The same noise and times every epoch, so validation loss moves only when the model does."""
    gen = torch.Generator().manual_seed(config.seed + 1)
    c, x = _tensors(val_set)
    c, x = c.repeat(config.val_repeats, 1), x.repeat(config.val_repeats, 1)
    return _draws(model, c, x, config, gen, training=False)


def _tensors(pairs: Pairs) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(pairs.cond, dtype=torch.float32), torch.as_tensor(pairs.target, dtype=torch.float32)
