"""A large synthetic pyramidal TIFF (JPEG tiles), generated tile by tile in bounded memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import tifffile

_TILE = 256
# Tissue: three ellipses (cx, cy, rx, ry) as fractions of the slide size.
_ELLIPSES = ((0.3, 0.4, 0.18, 0.25), (0.65, 0.55, 0.2, 0.3), (0.5, 0.15, 0.1, 0.06))


def _patch(x0: int, y0: int, ds: int, width0: int, height0: int) -> np.ndarray:
    """RGB for one tile at downsample ds, evaluated on level-0 coordinates."""
    ys, xs = np.mgrid[0:_TILE, 0:_TILE].astype(np.float32)
    gx, gy = (x0 + xs) * ds, (y0 + ys) * ds
    inside = np.zeros((_TILE, _TILE), bool)
    for cx, cy, rx, ry in _ELLIPSES:
        inside |= ((gx / width0 - cx) / rx) ** 2 + ((gy / height0 - cy) / ry) ** 2 <= 1
    texture = 0.5 + 0.25 * np.sin(gx * 0.05) * np.cos(gy * 0.043) + 0.25 * np.sin((gx + gy) * 0.011)
    out = np.full((_TILE, _TILE, 3), 243, np.uint8)
    pink = np.stack([200 - 60 * texture, 80 + 40 * texture, 160 + 30 * texture], axis=-1)
    out[inside] = pink[inside].astype(np.uint8)
    return out


def _tiles(width: int, height: int, ds: int, width0: int, height0: int) -> Iterator[np.ndarray]:
    for y in range(0, height, _TILE):
        for x in range(0, width, _TILE):
            yield _patch(x, y, ds, width0, height0)


def write_synthetic_wsi(
    path: Path, width0: int = 40_000, height0: int = 30_000, mpp: float = 0.25, aperio: bool = False
) -> Path:
    """A generic TIFF pyramid, or with `aperio` an Aperio SVS (its description; OpenSlide reads it as one)."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".partial" + path.suffix)
    desc = f"Aperio Image Library v12.0.15 \r\n{width0}x{height0} [0,0 {width0}x{height0}] (256x256) JPEG/RGB Q=85|AppMag = 40|MPP = {mpp}"
    with tifffile.TiffWriter(tmp, bigtiff=True) as tif:
        for ds in (1, 4, 16, 64):
            w, h = width0 // ds, height0 // ds
            tif.write(
                _tiles(w, h, ds, width0, height0),
                shape=(h, w, 3),
                dtype=np.uint8,
                tile=(_TILE, _TILE),
                photometric="rgb",
                compression="jpeg",
                compressionargs={"level": 85},
                metadata=None,
                description=desc if aperio and ds == 1 else None,
                resolution=(1e4 / (mpp * ds), 1e4 / (mpp * ds)),
                resolutionunit="CENTIMETER",
                subfiletype=0 if ds == 1 or aperio else 1,  # Aperio marks only label and macro
            )
            if aperio and ds == 1:  # the stripped thumbnail Aperio scanners write second
                tif.write(np.full((height0 // 64, width0 // 64, 3), 243, np.uint8), photometric="rgb", metadata=None)
    tmp.rename(path)
    return path
