"""Classical tissue detection on a ~8 um/px thumbnail; every size is in microns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from pathsearch.choices import TissueMethod
from pathsearch.io.geojson import mask_rings

# A brightfield slide's glass is near white; a median value below this means a dark background.
_DARK_BACKGROUND_VALUE = 80
# Otsu on a blank slide splits noise; tissue must clear this floor on the 0-255 scale.
_MIN_SIGNAL = 20
_MEDIAN_BLUR_UM = 40.0
_CLOSING_UM = 40.0
_DENSITY_BLUR_UM = 72.0


@dataclass
class TissueMask:
    """Boolean mask plus the level-0 px per mask px along x and y."""

    mask: np.ndarray
    downsample: tuple[float, float]
    method: str
    background: Literal["bright", "dark"]
    threshold: float | None
    warnings: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0


def _odd_px(um: float, mpp: float) -> int:
    px = max(3, round(um / mpp))
    return px if px % 2 else px + 1


def _filter_areas(mask: np.ndarray, min_object_px: float, min_hole_px: float) -> np.ndarray:
    """Drop specks smaller than min_object_px and fill holes smaller than min_hole_px.

    Areas come from bincount and border contact from the edge labels: cheaper than OpenCV's stats.
    """
    mask = mask.astype(bool)
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.bincount(labels.ravel(), minlength=n) >= min_object_px
    keep[0] = False
    if not keep[1:].all():
        mask = keep[labels]
    n, labels = cv2.connectedComponents((~mask).astype(np.uint8), connectivity=4)
    fill = np.bincount(labels.ravel(), minlength=n) < min_hole_px
    fill[0] = False  # label 0 is the tissue itself
    fill[np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])] = False
    return mask | fill[labels] if fill.any() else mask


def detect_tissue(
    thumb: np.ndarray,
    downsample: tuple[float, float],
    level0_mpp: float,
    method: TissueMethod = "otsu",
    threshold: float = _MIN_SIGNAL,
    min_tissue_area_um2: float = 10_000.0,
    min_hole_area_um2: float = 5_000.0,
) -> TissueMask:
    """Saturation (or, on dark backgrounds, brightness) -> median blur -> Otsu -> closing."""
    hsv = cv2.cvtColor(thumb, cv2.COLOR_RGB2HSV)
    dark = float(np.median(hsv[..., 2])) < _DARK_BACKGROUND_VALUE
    background: Literal["bright", "dark"] = "dark" if dark else "bright"
    if method == "none":
        return TissueMask(np.ones(thumb.shape[:2], bool), downsample, method, background, None)
    warnings = []
    if dark:
        warnings.append(
            "dark background (fluorescence?): brightfield saturation detection does not apply, "
            "so tissue was taken as bright signal; check thumbnail.png or use --tissue none"
        )
    mpp_x, mpp_y = downsample[0] * level0_mpp, downsample[1] * level0_mpp
    if dark:  # sparse bright nuclei: smooth to a density so Otsu separates tissue from glass
        k = _odd_px(_DENSITY_BLUR_UM, mpp_x)
        signal = cv2.blur(hsv[..., 2], (k, k))
    else:
        signal = cv2.medianBlur(hsv[..., 1], _odd_px(_MEDIAN_BLUR_UM, mpp_x))
    if method == "otsu":
        otsu, _ = cv2.threshold(signal, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        threshold = max(float(otsu), float(threshold))
    mask = signal > threshold
    k = _odd_px(_CLOSING_UM, mpp_x)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    px_um2 = mpp_x * mpp_y
    mask = _filter_areas(mask, min_tissue_area_um2 / px_um2, min_hole_area_um2 / px_um2)
    return TissueMask(mask, downsample, method, background, threshold, warnings)


def tissue_polygons(tissue: TissueMask) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Outer rings with their holes, in level-0 pixels."""
    scale = np.array(tissue.downsample, np.float64)
    return [((ext + 0.5) * scale, [(h + 0.5) * scale for h in holes]) for ext, holes in mask_rings(tissue.mask)]
