"""Class colours and overlays: per-tile class heatmaps on a thumbnail, per-pixel masks on an image."""

from __future__ import annotations

import cv2
import numpy as np

# Distinct, colour-blind-friendly (Okabe-Ito first); QuPath receives the same colours.
_PALETTE = [
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
    (204, 121, 167), (120, 120, 120), (160, 40, 40), (40, 160, 160), (120, 60, 200), (60, 120, 20),
]


def class_colours(classes: list[str]) -> dict[str, tuple[int, int, int]]:
    return {c: _PALETTE[i % len(_PALETTE)] for i, c in enumerate(classes)}


def tile_heatmap(
    thumb: np.ndarray,
    downsample: tuple[float, float],
    coords: np.ndarray,
    box_level0: int,
    predicted: np.ndarray,
    confidence: np.ndarray,
    classes: list[str],
) -> np.ndarray:
    """Each tile filled with its predicted class's colour, more opaque where the vote was surer."""
    colours = class_colours(classes)
    layer = np.zeros(thumb.shape[:2] + (3,), np.float32)
    alpha = np.zeros(thumb.shape[:2], np.float32)
    scale = np.array(downsample)
    for (x, y), cls, conf in zip(coords, predicted, confidence, strict=True):
        x0, y0 = np.floor(np.array([x, y]) / scale).astype(int)
        x1, y1 = np.ceil((np.array([x, y]) + box_level0) / scale).astype(int)
        layer[y0:y1, x0:x1] = colours[classes[cls]]
        alpha[y0:y1, x0:x1] = 0.25 + 0.45 * float(conf)
    out = thumb.astype(np.float32) * (1 - alpha[..., None]) + layer * alpha[..., None]
    return _legend(out.clip(0, 255).astype(np.uint8), classes)


def mask_overlay(image: np.ndarray, class_map: np.ndarray, classes: list[str], alpha: float = 0.4) -> np.ndarray:
    """class_map holds indices into `classes`; outlines make boundaries checkable by eye."""
    colours = np.array([class_colours(classes)[c] for c in classes], np.float32)
    out = image.astype(np.float32) * (1 - alpha) + colours[class_map] * alpha
    out = out.clip(0, 255).astype(np.uint8)
    for i in range(len(classes)):
        contours, _ = cv2.findContours((class_map == i).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, tuple(int(v) for v in colours[i]), 1)
    return _legend(out, classes)


def _legend(image: np.ndarray, classes: list[str]) -> np.ndarray:
    colours = class_colours(classes)
    row_px = 18
    legend = np.full((row_px * len(classes) + 6, image.shape[1], 3), 255, np.uint8)
    for i, c in enumerate(classes):
        y = 4 + i * row_px
        cv2.rectangle(legend, (4, y), (18, y + 12), colours[c], thickness=-1)
        cv2.putText(legend, c, (24, y + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.vstack([image, legend])
