"""The QC picture a pathologist checks: tissue outline and kept tiles on the thumbnail."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from pathsearch.io.atomic import atomic_path

_CONTOUR_RGB = (0, 170, 0)
_HOLE_RGB = (230, 120, 0)
_TILE_RGB = (20, 60, 220)


def draw_tiling_qc(
    thumb: np.ndarray,
    downsample: tuple[float, float],
    polygons: list[tuple[np.ndarray, list[np.ndarray]]],
    coords: np.ndarray,
    box_level0: int,
    step_level0: int,
) -> np.ndarray:
    """Contours in green (holes in orange), kept tiles as blue boxes over a lightly tinted fill."""
    scale = np.array(downsample, np.float64)
    boxes = np.column_stack([coords / scale, (coords + box_level0) / scale]).astype(np.int32)
    # One call for thousands of boxes; fillPoly's even-odd rule is exact only while tiles do not overlap.
    quads = list(boxes[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(-1, 4, 2))
    fill = thumb.copy()
    if step_level0 >= box_level0:
        cv2.fillPoly(fill, quads, _TILE_RGB)
    else:
        for x0, y0, x1, y1 in boxes:
            cv2.rectangle(fill, (x0, y0), (x1, y1), _TILE_RGB, thickness=-1)
    canvas = cv2.addWeighted(thumb, 0.8, fill, 0.2, 0)
    if box_level0 / scale[0] >= 4:
        cv2.polylines(canvas, quads, isClosed=True, color=_TILE_RGB, thickness=1)
    for exterior, holes in polygons:
        rings = [(exterior, _CONTOUR_RGB), *((h, _HOLE_RGB) for h in holes)]
        for ring, colour in rings:
            pts = np.round(ring / scale - 0.5).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [pts], isClosed=True, color=colour, thickness=2)
    return canvas


def write_png(path: str | Path, rgb: np.ndarray) -> None:
    """RGB or single-channel label image, written atomically."""
    image = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"could not encode {path}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(encoded.tobytes())
