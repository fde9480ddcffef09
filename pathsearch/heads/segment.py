"""Few-shot segmentation: dense patch embeddings voted against support patches, upsampled to pixels."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pathsearch.api.embed import embed_tiles
from pathsearch.encoders.base import Encoder
from pathsearch.errors import PathsearchError
from pathsearch.heads.classify import FewShotClassifier, FewShotConfig, fit_few_shot


class SegmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patch_px: int = Field(default=96, ge=8, description="patch side in image px")
    stride_px: int = Field(default=32, ge=1, description="grid step in image px")
    min_label_fraction: float = Field(default=0.6, gt=0, le=1, description="support patch purity")
    few_shot: FewShotConfig = Field(default_factory=lambda: FewShotConfig(k=3, views_per_tile=0))


def patch_grid(height: int, width: int, patch_px: int, stride_px: int) -> np.ndarray:
    """Top-left (x, y) of patches covering the whole image; the last row/column is flush with the edge."""
    if height < patch_px or width < patch_px:
        raise PathsearchError(f"image {width}x{height} px is smaller than --patch-px {patch_px}; lower it")

    def starts(extent: int) -> np.ndarray:
        s = np.arange(0, extent - patch_px + 1, stride_px)
        return np.unique(np.append(s, extent - patch_px))

    ys, xs = starts(height), starts(width)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


def crops(image: np.ndarray, coords: np.ndarray, patch_px: int) -> list[np.ndarray]:
    return [image[y : y + patch_px, x : x + patch_px] for x, y in coords]


def support_patches(
    images: list[np.ndarray], masks: list[np.ndarray], values: list[int], config: SegmentConfig
) -> tuple[list[np.ndarray], list[str]]:
    """Patches whose pixels are mostly one label; the label is the mask value as text."""
    patches, labels = [], []
    p = config.patch_px
    for image, mask in zip(images, masks, strict=True):
        coords = patch_grid(*mask.shape, p, config.stride_px)
        for (x, y), patch in zip(coords, crops(image, coords, p), strict=True):
            window = mask[y : y + p, x : x + p]
            counts = np.array([(window == v).sum() for v in values])
            best = int(counts.argmax())
            if counts[best] >= config.min_label_fraction * p * p:
                patches.append(patch)
                labels.append(str(values[best]))
    missing = sorted(set(map(str, values)) - set(labels))
    if missing:
        raise PathsearchError(
            f"support label(s) {', '.join(missing)} cover no {p} px patch at {config.min_label_fraction:.0%} purity; "
            "lower --patch-px or add support images"
        )
    return patches, labels


def fit_segmenter(
    patches: list[np.ndarray], labels: list[str], encoder: Encoder, config: SegmentConfig, batch_size: int = 32
) -> FewShotClassifier:
    return fit_few_shot(embed_tiles(patches, encoder, batch_size), labels, config.few_shot)


def class_probabilities(
    image: np.ndarray, classifier: FewShotClassifier, encoder: Encoder, config: SegmentConfig, batch_size: int = 32
) -> np.ndarray:
    """(H, W, C) soft class map: each patch's votes spread over the pixels it covers, then averaged."""
    h, w = image.shape[:2]
    p = config.patch_px
    coords = patch_grid(h, w, p, config.stride_px)
    probs = classifier.predict_proba(embed_tiles(crops(image, coords, p), encoder, batch_size))
    acc = np.zeros((h, w, probs.shape[1]), np.float32)
    weight = np.zeros((h, w, 1), np.float32)
    # A centre-weighted window: a patch speaks most confidently about its middle.
    ramp = 1.0 - np.abs(np.linspace(-1, 1, p)) * 0.9
    window = np.outer(ramp, ramp)[..., None].astype(np.float32)
    for (x, y), row in zip(coords, probs, strict=True):
        acc[y : y + p, x : x + p] += window * row.astype(np.float32)
        weight[y : y + p, x : x + p] += window
    return acc / np.maximum(weight, 1e-6)
