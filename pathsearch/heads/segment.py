"""Few-shot segmentation: dense patch embeddings voted against support patches, upsampled to pixels."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi

from pathsearch.api.embed import embed_tiles
from pathsearch.encoders.base import Encoder
from pathsearch.errors import PathsearchError
from pathsearch.heads.classify import FewShotClassifier, FewShotConfig
from pathsearch.heads.pixels import LabStats, PixelForest, PixelForestConfig, blend


class SegmentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    patch_px: int = Field(default=96, ge=8, description="patch side in image px")
    stride_px: int = Field(default=32, ge=1, description="grid step in image px")
    min_label_fraction: float = Field(default=0.6, gt=0, le=1, description="support patch purity")
    # The probe, not k-NN votes: over all 165 GlaS support triples it generalised better (BENCHMARKS.md).
    few_shot: FewShotConfig = Field(default_factory=lambda: FewShotConfig(head="linear", k=3, views_per_tile=0))
    pixel_forest: PixelForestConfig | None = Field(default_factory=PixelForestConfig, description="None: votes alone")
    min_region_px: int = Field(default=2000, ge=0, description="smaller class regions join their next-likeliest class")


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


def patch_labels(mask: np.ndarray, coords: np.ndarray, values: list[int], patch_px: int, min_fraction: float) -> list[str | None]:
    """Per patch, the mask value covering at least `min_fraction` of it (as text), else None."""
    labels: list[str | None] = []
    for x, y in coords:
        window = mask[y : y + patch_px, x : x + patch_px]
        counts = np.array([(window == v).sum() for v in values])
        best = int(counts.argmax())
        labels.append(str(values[best]) if counts[best] >= min_fraction * patch_px * patch_px else None)
    return labels


def patch_features(image: np.ndarray, coords: np.ndarray, encoder: Encoder, patch_px: int, batch_size: int = 32) -> np.ndarray:
    """Each window's embedding. An encoder with a dense path computes every pixel's features once for
    the whole image; any other embeds each crop."""
    dense = encoder.window_features(image, coords, patch_px)
    return dense if dense is not None else embed_tiles(crops(image, coords, patch_px), encoder, batch_size)


def support_features(
    images: list[np.ndarray], masks: list[np.ndarray], values: list[int], encoder: Encoder, config: SegmentConfig
) -> tuple[np.ndarray, list[str]]:
    """Embeddings of the patches whose pixels are mostly one label; the label is the mask value as text."""
    features, labels = [], []
    p = config.patch_px
    for image, mask in zip(images, masks, strict=True):
        coords = patch_grid(*mask.shape, p, config.stride_px)
        found = patch_labels(mask, coords, values, p, config.min_label_fraction)
        pure = [i for i, label in enumerate(found) if label is not None]
        if pure:
            features.append(patch_features(image, coords[pure], encoder, p))
            labels += [found[i] for i in pure]
    missing = sorted(set(map(str, values)) - set(labels))
    if missing:
        raise PathsearchError(
            f"support label(s) {', '.join(missing)} cover no {p} px patch at {config.min_label_fraction:.0%} purity; "
            "lower --patch-px or add support images"
        )
    return np.concatenate(features), labels


def class_probabilities(image: np.ndarray, classifier: FewShotClassifier, encoder: Encoder, config: SegmentConfig) -> np.ndarray:
    """(H, W, C) soft class map of one image's patch grid."""
    coords = patch_grid(*image.shape[:2], config.patch_px, config.stride_px)
    features = patch_features(image, coords, encoder, config.patch_px)
    return vote_map(classifier, features, coords, image.shape[:2], config.patch_px)


def segment_probabilities(
    image: np.ndarray, classifier: FewShotClassifier, encoder: Encoder, config: SegmentConfig,
    forest: PixelForest | None, stats: LabStats | None = None,
) -> np.ndarray:
    """(H, W, C) patch votes, averaged with the pixel forest's probabilities when there is a forest.
    The forest runs beside the patch features: each leaves a core idle part of the time."""
    if forest is None:
        return class_probabilities(image, classifier, encoder, config)
    with ThreadPoolExecutor(1) as pool:
        pixels = pool.submit(forest.probabilities, image, stats)
        votes = class_probabilities(image, classifier, encoder, config)
        return blend(votes, pixels.result(), forest.config.weight)


def vote_map(
    classifier: FewShotClassifier, features: np.ndarray, coords: np.ndarray, shape: tuple[int, int], patch_px: int
) -> np.ndarray:
    """Patch features -> (H, W, C) map with classes in ascending mask value (the classifier sorts its
    labels as text, which puts 10 before 2)."""
    order = np.argsort([int(v) for v in classifier.classes], kind="stable")
    return _spread(classifier.predict_proba(features)[:, order], coords, shape, patch_px)


def class_indices(mask: np.ndarray, values: list[int]) -> np.ndarray:
    """Mask values -> indices into the ascending `values`, the class axis of every map."""
    return np.searchsorted(values, mask).astype(np.uint8)


def _spread(probs: np.ndarray, coords: np.ndarray, shape: tuple[int, int], patch_px: int) -> np.ndarray:
    """Each patch's (C,) votes spread over the pixels it covers, then averaged per pixel."""
    acc = np.zeros((*shape, probs.shape[1]), np.float32)
    weight = np.zeros(shape, np.float32)
    # A centre-weighted window: a patch speaks most confidently about its middle.
    ramp = 1.0 - np.abs(np.linspace(-1, 1, patch_px)) * 0.9
    _add_windows(probs.astype(np.float32), coords, np.outer(ramp, ramp).astype(np.float32), acc, weight)
    return acc / np.maximum(weight, 1e-6)[..., None]


@numba.njit(cache=True, nogil=True)
def _add_windows(probs: np.ndarray, coords: np.ndarray, window: np.ndarray, acc: np.ndarray, weight: np.ndarray) -> None:
    """Compiled: as numpy slices, hundreds of patches' temporaries cost more than the adding."""
    side = window.shape[0]
    for n in range(coords.shape[0]):
        x, y = coords[n, 0], coords[n, 1]
        for i in range(side):
            for j in range(side):
                w = window[i, j]
                weight[y + i, x + j] += w
                for c in range(probs.shape[1]):
                    acc[y + i, x + j, c] += w * probs[n, c]


def top_two(probs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) uint8 likeliest and next-likeliest class per pixel: all a class map needs, at 2 bytes a pixel."""
    best = probs.argmax(axis=2)
    masked = probs.copy()
    np.put_along_axis(masked, best[..., None], -np.inf, axis=2)
    return best.astype(np.uint8), masked.argmax(axis=2).astype(np.uint8)


def merge_small_regions(best: np.ndarray, second: np.ndarray, n_classes: int, min_region_px: int) -> np.ndarray:
    """Regions of one class under `min_region_px` go to their pixels' next-likeliest class: specks and
    pinholes are noise at the scale QuPath users annotate at."""
    out = best.copy()
    if min_region_px == 0:
        return out
    for c in range(n_classes):
        regions, _ = ndi.label(best == c)
        small = np.bincount(regions.ravel()) < min_region_px
        small[0] = False
        where = small[regions]
        out[where] = second[where]
    return out


def class_map(probs: np.ndarray, min_region_px: int) -> np.ndarray:
    """Argmax of (H, W, C) probabilities, small regions merged away."""
    return merge_small_regions(*top_two(probs), probs.shape[2], min_region_px)
