"""Search results as a picture: each query tile, then its hits left to right, scores underneath."""

from __future__ import annotations

import cv2
import numpy as np

_GAP_PX = 4
_TEXT_PX = 16
_MISSING_GREY = 200


def draw_hits(rows: list[list[tuple[np.ndarray | None, str]]], cell_px: int) -> np.ndarray:
    """One row per query: (tile RGB or None when it cannot be read, caption) per cell; the query first,
    set off by a wider gap."""
    columns = max(len(r) for r in rows)
    cell_h = cell_px + _TEXT_PX
    width = columns * (cell_px + _GAP_PX) + 3 * _GAP_PX
    canvas = np.full((len(rows) * (cell_h + _GAP_PX) + _GAP_PX, width, 3), 255, np.uint8)
    for r, cells in enumerate(rows):
        y = _GAP_PX + r * (cell_h + _GAP_PX)
        for c, (tile, caption) in enumerate(cells):
            x = _GAP_PX + c * (cell_px + _GAP_PX) + (3 * _GAP_PX if c else 0)
            if tile is None:
                canvas[y : y + cell_px, x : x + cell_px] = _MISSING_GREY
            else:
                canvas[y : y + cell_px, x : x + cell_px] = cv2.resize(tile, (cell_px, cell_px), interpolation=cv2.INTER_AREA)
            cv2.putText(canvas, caption, (x + 2, y + cell_px + 12), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1, cv2.LINE_AA)
    return canvas
