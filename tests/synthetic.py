"""Synthetic whole-slide images with known geometry, written by tifffile."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import tifffile

PINK = (200, 90, 160)
WHITE = 245


def tissue_image(
    width: int,
    height: int,
    boxes: list[tuple[int, int, int, int]],
    holes: list[tuple[int, int, int, int]] = (),
) -> np.ndarray:
    """White glass with saturated pink boxes (x, y, w, h) and white holes cut into them."""
    img = np.full((height, width, 3), WHITE, np.uint8)
    for x, y, w, h in boxes:
        img[y : y + h, x : x + w] = PINK
    for x, y, w, h in holes:
        img[y : y + h, x : x + w] = WHITE
    return img


def _pyramid(img: np.ndarray, downsamples: list[int]) -> list[np.ndarray]:
    h, w = img.shape[:2]
    return [
        img if d == 1 else cv2.resize(img, (w // d, h // d), interpolation=cv2.INTER_AREA)
        for d in downsamples
    ]


def write_svs(
    path: Path,
    img: np.ndarray,
    mpp: float | None = 0.5,
    downsamples: tuple[int, ...] = (1, 4, 16),
    thumbnail: bool = False,
) -> Path:
    """Aperio-style SVS: tiled levels in the main IFD chain, Aperio description, metadata=None; with
    `thumbnail`, a stripped thumbnail second, as scanners write it (and as tifffile expects)."""
    h, w = img.shape[:2]
    desc = f"Aperio Image Library v12.0.15 \r\n{w}x{h} [0,0 {w}x{h}] (256x256) RAW|AppMag = 20"
    if mpp is not None:
        desc += f"|MPP = {mpp}"
    with tifffile.TiffWriter(path, bigtiff=False) as tif:
        for i, level in enumerate(_pyramid(img, list(downsamples))):
            tif.write(
                level,
                tile=(256, 256),
                photometric="rgb",
                compression="zlib",
                description=desc if i == 0 else None,
                metadata=None,
            )
            if i == 0 and thumbnail:
                tif.write(level[::16, ::16], photometric="rgb", metadata=None)
    return path


def write_generic_pyramid(
    path: Path, img: np.ndarray, mpp: float = 0.5, downsamples: tuple[int, ...] = (1, 4, 16)
) -> Path:
    """Generic tiled TIFF pyramid with resolution tags in pixels per centimetre."""
    res = (1e4 / mpp, 1e4 / mpp)
    with tifffile.TiffWriter(path) as tif:
        for d, level in zip(downsamples, _pyramid(img, list(downsamples)), strict=True):
            tif.write(
                level,
                tile=(256, 256),
                photometric="rgb",
                compression="zlib",
                metadata=None,
                subfiletype=0 if d == 1 else 1,
                resolution=(res[0] / d, res[1] / d),
                resolutionunit="CENTIMETER",
            )
    return path
