"""The weights-free default encoder, wrapping the handcrafted texture descriptor."""

from __future__ import annotations

import numpy as np
import torch

from pathsearch.encoders.base import Encoder
from pathsearch.encoders.texture import standardise, texture_features, texture_stats


class HETextureEncoder(Encoder):
    name = "he-texture"

    def __init__(self) -> None:
        self.dim = len(texture_stats()[0])

    @property
    def transform_description(self) -> str:
        return "resize 224 (INTER_AREA); HED/HSV/Lab stats, LBP (gray, eosin), GLCM, rotation-invariant Gabor, nuclei; fixed z-score"

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(standardise(texture_features(rgb)))

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return batch
