"""The weights-free default encoder, wrapping the handcrafted texture descriptor."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from pathsearch.encoders.base import Encoder
from pathsearch.encoders.dense_texture import dense_texture_features
from pathsearch.encoders.texture import standardise, texture_features, texture_stats, texture_tile


class HETextureEncoder(Encoder):
    """The descriptor is this encoder's model, so it runs in `_forward` on torch's thread count, as a
    network's forward pass would: its steps (OpenCV, numpy, the compiled LBP) release the GIL."""

    name = "he-texture"

    def __init__(self) -> None:
        self.dim = len(texture_stats()[0])

    @property
    def transform_description(self) -> str:
        return "resize 224 (INTER_AREA); HED/HSV/Lab stats, LBP (gray, eosin), GLCM, rotation-invariant Gabor, nuclei; fixed z-score"

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(texture_tile(rgb).copy())  # a read-only decoded tile cannot back a tensor

    def window_features(self, image: np.ndarray, coords: np.ndarray, patch_px: int) -> np.ndarray:
        return standardise(dense_texture_features(image, coords, patch_px)).astype(np.float32)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        tiles = list(batch.cpu().numpy())
        with ThreadPoolExecutor(max(1, min(torch.get_num_threads(), len(tiles)))) as pool:
            raw = np.stack(list(pool.map(texture_features, tiles)))
        return torch.from_numpy(standardise(raw))
