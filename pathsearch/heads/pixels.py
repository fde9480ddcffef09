"""A pixel forest: ilastik's recipe (multi-scale filter responses, a random forest trained on labelled
pixels) fitted on the support masks. Patch votes know what tissue surrounds a pixel but blur its edges
over a patch; the forest reads edges and colour at the pixel itself. Averaging the two measured better
on GlaS than either alone (BENCHMARKS.md)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from skimage.color import rgb2lab
from skimage.feature import multiscale_basic_features
from sklearn.ensemble import RandomForestClassifier

from pathsearch.choices import PixelColour

ROWS_PER_BLOCK = 256  # features are computed in row blocks so a large region never holds all at once


class PixelForestConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sigma_max_px: float = Field(default=16, ge=1, description="widest Gaussian of the filter bank, image px")
    # The forest reads a copy this many times smaller (the filter bank scaled with it) and its
    # probabilities are resized back: a tenth of the filtering and a quarter of the pixels to predict,
    # at the same gland Dice on GlaS (BENCHMARKS.md, session 17).
    downsample: int = Field(default=2, ge=1)
    # Per-image CIELAB z-scores cancel a slide's overall stain and scanner shift before the filters see it;
    # on GlaS that lifted the hardest images most (BENCHMARKS.md). "rgb" is the raw colour, 0-1.
    colour: PixelColour = "lab-standardised"
    pixels_per_image: int = Field(default=15000, ge=100, description="support pixels sampled per image")
    # 30 trees: half the prediction time of 60 at the same gland Dice over 30 GlaS supports (session 18)
    trees: int = Field(default=30, ge=1)
    min_samples_leaf: int = Field(default=5, ge=1)
    weight: float = Field(default=0.5, ge=0, le=1, description="share of the forest in the map it is averaged into")
    seed: int = 0


LabStats = tuple[np.ndarray, np.ndarray]  # per-channel mean and std of an image's CIELAB


def _lab(image: np.ndarray) -> np.ndarray:
    """Converted a row block at a time, so the whole-image copy stays float32 (rgb2lab returns float64)."""
    lab = np.empty(image.shape, np.float32)
    for y0 in range(0, image.shape[0], ROWS_PER_BLOCK):
        lab[y0 : y0 + ROWS_PER_BLOCK] = rgb2lab(image[y0 : y0 + ROWS_PER_BLOCK])
    return lab


def _moments(lab: np.ndarray) -> LabStats:
    return lab.mean(axis=(0, 1)), np.maximum(lab.std(axis=(0, 1)), 1e-3)


def lab_stats(image: np.ndarray) -> LabStats:
    """What the z-scores use; a large region takes them from its overview, so its blocks agree."""
    return _moments(_lab(image))


def _channels(image: np.ndarray, colour: PixelColour, stats: LabStats | None = None) -> np.ndarray:
    """(H, W, 3) float32 filter input."""
    if colour == "rgb":
        return image.astype(np.float32) / 255.0
    lab = _lab(image)
    mean, std = stats if stats is not None else _moments(lab)
    lab -= mean
    lab /= std
    return lab


def _small_wh(shape: tuple[int, ...], downsample: int) -> tuple[int, int]:
    return max(1, round(shape[1] / downsample)), max(1, round(shape[0] / downsample))


def _feature_blocks(
    image: np.ndarray, config: PixelForestConfig, stats: LabStats | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, (rows, W, F) features) per block of the image shrunk by `config.downsample`; each
    block is filtered with a margin of 4 sigma so blocks join without seams."""
    sigma_max = config.sigma_max_px / config.downsample
    margin = int(np.ceil(4 * sigma_max))
    if config.downsample > 1:
        image = cv2.resize(image, _small_wh(image.shape, config.downsample), interpolation=cv2.INTER_AREA)
    h = image.shape[0]
    channels = _channels(image, config.colour, stats)
    for y0 in range(0, h, ROWS_PER_BLOCK):
        y1 = min(y0 + ROWS_PER_BLOCK, h)
        top, bottom = max(y0 - margin, 0), min(y1 + margin, h)
        feats = multiscale_basic_features(channels[top:bottom], channel_axis=-1, sigma_min=1, sigma_max=sigma_max)
        yield y0, feats[y0 - top : y1 - top].astype(np.float32)


@dataclass(frozen=True)
class PixelForest:
    forest: RandomForestClassifier
    config: PixelForestConfig  # prediction must use the filter bank and colour the forest was trained on
    n_classes: int

    def probabilities(self, image: np.ndarray, stats: LabStats | None = None) -> np.ndarray:
        """(H, W, n_classes); a class the forest never saw gets 0. `stats`: the Lab statistics to
        standardise by, when the image is one block of something larger."""
        w, h = _small_wh(image.shape, self.config.downsample)
        out = np.zeros((h, w, self.n_classes), np.float32)
        for y0, feats in _feature_blocks(image, self.config, stats):
            rows, _, f = feats.shape
            out[y0 : y0 + rows, :, self.forest.classes_] = self.forest.predict_proba(feats.reshape(-1, f)).reshape(rows, w, -1)
        if self.config.downsample == 1:
            return out
        full = cv2.resize(out, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
        return full.reshape(image.shape[:2] + (self.n_classes,))


def fit_pixel_forest(images: list[np.ndarray], targets: list[np.ndarray], n_classes: int, config: PixelForestConfig) -> PixelForest:
    """targets hold class indices per pixel. Class-balanced, so a thin class is not outvoted by area."""
    rng = np.random.default_rng(config.seed)
    xs, ys = [], []
    for image, target in zip(images, targets, strict=True):
        if config.downsample > 1:
            small = _small_wh(image.shape, config.downsample)
            target = cv2.resize(target.astype(np.uint16), small, interpolation=cv2.INTER_NEAREST)
        picked = np.zeros(target.size, bool)
        picked[rng.choice(target.size, min(config.pixels_per_image, target.size), replace=False)] = True
        picked = picked.reshape(target.shape)
        for y0, feats in _feature_blocks(image, config):
            rows = picked[y0 : y0 + len(feats)]
            xs.append(feats[rows])
            ys.append(target[y0 : y0 + len(feats)][rows])
    forest = RandomForestClassifier(
        n_estimators=config.trees, min_samples_leaf=config.min_samples_leaf, class_weight="balanced",
        n_jobs=-1, random_state=config.seed,
    )
    return PixelForest(forest.fit(np.concatenate(xs), np.concatenate(ys)), config, n_classes)


def blend(votes: np.ndarray, pixel_probs: np.ndarray, weight: float) -> np.ndarray:
    return (1 - weight) * votes + weight * pixel_probs
