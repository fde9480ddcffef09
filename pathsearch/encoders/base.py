"""One encoder interface: preprocess a tile, embed a batch, L2-normalised float32 out."""

from __future__ import annotations

import abc
import hashlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch

Precision = Literal["fp32", "fp16", "bf16"]


def sha256_file(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class Encoder(abc.ABC):
    name: str
    dim: int
    precision: Precision = "fp32"
    weights: Path | None = None

    @abc.abstractmethod
    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        """RGB uint8 (h, w, 3) -> the tensor a batch is stacked from (runs in loader workers)."""

    @abc.abstractmethod
    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """Un-normalised embeddings for a preprocessed batch."""

    @property
    def transform_description(self) -> str:
        return self.name

    def window_features(self, image: np.ndarray, coords: np.ndarray, patch_px: int) -> np.ndarray | None:
        """Embeddings of the `patch_px` windows at `coords` (top-left x, y) of one image, for encoders
        that can compute each pixel once for all overlapping windows; None: embed each crop instead."""
        return None

    def to(self, device: str) -> Encoder:  # noqa: B027 - weights-free encoders have nothing to move
        return self

    @torch.inference_mode()
    def encode_images(self, batch: torch.Tensor, device: str = "cpu") -> np.ndarray:
        batch = batch.to(device)
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.precision)
        if device.startswith("cuda") and dtype is not None:
            with torch.autocast("cuda", dtype=dtype):
                out = self._forward(batch)
        else:
            out = self._forward(batch)
        out = torch.nn.functional.normalize(out.float(), dim=-1)
        return out.cpu().numpy().astype(np.float32)

    def provenance(self) -> dict[str, str | int]:
        info: dict[str, str | int] = {
            "encoder": self.name,
            "dim": self.dim,
            "transform": self.transform_description,
            "normalisation": "l2",
            "precision": self.precision,
        }
        if self.weights is not None:
            info["weights_file"] = self.weights.name
            info["weights_sha256"] = sha256_file(self.weights)
        return info
