"""STHLM generator (flow matching) and its non-generative control, sharing one network and data space."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from pathsearch.sthlm.velocity import NetConfig, VelocityNet

ModelKind = Literal["flow", "control"]
# What the flow's network outputs: the velocity, or the clean target x1 with the velocity derived from it.
Predict = Literal["velocity", "x1"]
SMALL_BATCH_ROWS = 512


class SampleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    steps: int = Field(default=10, ge=1)
    guidance: float = 1.0
    temperature: float = Field(default=0.5, ge=0.0)
    seed: int = 0


class STHLMModel:
    """Embeddings are unit vectors; the network works on them scaled by sqrt(dim) so each coordinate is O(1).

    With `residual`, the network generates x - c rather than x: relevant items sit near their query.
    With predict="x1" the network estimates the clean target and the Euler step uses the velocity
    (x1 - y_t) / (1 - t): its t=0 output is then the same regression the control learns, and the
    samples spread around it.
    """

    def __init__(
        self, net: VelocityNet, kind: ModelKind, residual: bool, noise_scale: float, predict: Predict = "velocity"
    ) -> None:
        self.net = net.eval()
        self.kind = kind
        self.residual = residual
        self.noise_scale = noise_scale
        self.predict_target = predict
        self.scale = math.sqrt(net.config.dim)

    @property
    def config(self) -> dict:
        return {
            "kind": self.kind,
            "residual": self.residual,
            "noise_scale": self.noise_scale,
            "predict": self.predict_target,
            "net": self.net.config.model_dump(),
        }

    # A condition may carry more than the bank-space query after it (the full-dimension query when the
    # bank is PCA-reduced); the residual is taken from its leading bank-space part.
    def to_data(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return (x - c[:, : x.shape[-1]] if self.residual else x) * self.scale

    def from_data(self, y: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        x = y / self.scale
        return x + c[:, None, : x.shape[-1]] if self.residual else x

    @torch.inference_mode()
    def sample(self, cond: np.ndarray, n: int, config: SampleConfig | None = None) -> np.ndarray:
        """(Q, D) conditions -> (Q, n, D) unit vectors; one batched Euler solve over queries x samples."""
        config = config or SampleConfig()
        c = torch.as_tensor(np.asarray(cond, dtype=np.float32))
        if self.kind == "control":
            raise ValueError("the control is deterministic and has nothing to sample; call predict")
        q, dim = len(c), self.net.config.dim
        with _single_thread_if_small(q * n):
            return self._euler(c, n, dim, config)

    def _euler(self, c: torch.Tensor, n: int, dim: int, config: SampleConfig) -> np.ndarray:
        q = len(c)
        gen = torch.Generator().manual_seed(config.seed)
        y = torch.randn(q, n, dim, generator=gen) * (self.noise_scale * config.temperature)
        guided = config.guidance != 1.0
        if guided:  # conditioned and null halves run as one batch
            drop = torch.cat([torch.zeros(q, dtype=torch.bool), torch.ones(q, dtype=torch.bool)])
            cond_h, cond_x = self.net.condition(torch.cat([c, c]), drop)
        else:
            cond_h, cond_x = self.net.condition(c)
        # The Euler grid is fixed, so every step's weight factors come from one batched hypernetwork call.
        b = len(cond_h)
        times = torch.arange(config.steps, dtype=torch.float32) / config.steps
        all_factors = self.net.layer_factors(cond_h.repeat(config.steps, 1), times.repeat_interleave(b))
        dt = 1.0 / config.steps
        for step in range(config.steps):
            factors = [(a[step * b : (step + 1) * b], f[step * b : (step + 1) * b]) for a, f in all_factors]
            if guided:
                out_cond, out_null = self.net.velocity(torch.cat([y, y]), cond_x, factors).chunk(2)
                out = out_null + config.guidance * (out_cond - out_null)
            else:
                out = self.net.velocity(y, cond_x, factors)
            # Guidance is linear in the output, and x1 -> velocity is affine: the order does not matter.
            v = out if self.predict_target == "velocity" else (out - y) / (1.0 - step * dt)
            y = y + dt * v
        return _unit(self.from_data(y, c)).numpy()

    @torch.inference_mode()
    def predict(self, cond: np.ndarray) -> np.ndarray:
        """The control's deterministic c -> x map: the same network read at x=0, t=0."""
        c = torch.as_tensor(np.asarray(cond, dtype=np.float32))
        y = self.net(None, torch.zeros(len(c)), self.net.condition(c))
        return _unit(self.from_data(y, c))[:, 0].numpy()


def new_model(
    dim: int, cond_dim: int, kind: ModelKind, residual: bool, noise_scale: float, predict: Predict = "velocity", **net: int
) -> STHLMModel:
    return STHLMModel(VelocityNet(NetConfig(dim=dim, cond_dim=cond_dim, **net)), kind, residual, noise_scale, predict)


@contextlib.contextmanager
def _single_thread_if_small(rows: int) -> Iterator[None]:
    """Waking a second thread costs more than a few dozen rows of work, and on small machines its
    spinning competes with faiss's own OpenMP threads (single-query latency halved with one thread)."""
    if rows >= SMALL_BATCH_ROWS:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
