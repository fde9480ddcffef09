"""Nuclear size statistics, compiled: as four numpy calls per window they were most of the dense
path's nuclei step (hundreds of windows an image), and they held the GIL the feature threads share."""

from __future__ import annotations

import numba
import numpy as np

from pathsearch.encoders.colour_pass import interpolate


@numba.njit(cache=True, nogil=True)
def area_statistics(areas_px: np.ndarray, min_px: int) -> np.ndarray:
    """log1p of the count, median, mean and 90th percentile (numpy's linear) of the areas of at least
    `min_px`; none counts as one area of 0 px, so an empty window still has finite features."""
    kept = np.sort(areas_px[areas_px >= min_px].astype(np.float64))
    if kept.size == 0:
        kept = np.zeros(1)
    n = kept.size
    index = 0.9 * (n - 1)
    below = int(np.floor(index))
    p90 = interpolate(kept[below], kept[min(below + 1, n - 1)], index - below)
    return np.log1p(np.array([n, 0.5 * (kept[(n - 1) // 2] + kept[n // 2]), kept.mean(), p90]))


@numba.njit(cache=True, nogil=True)
def window_area_statistics(
    areas_px: np.ndarray, cell_row: np.ndarray, cell_col: np.ndarray, windows: np.ndarray, min_px: int
) -> np.ndarray:
    """(n windows, 4) `area_statistics` of the blobs whose centroid's cell lies in each window's block
    of cells (rows [y0, y1), cols [x0, x1))."""
    out = np.empty((windows.shape[0], 4))
    inside = np.empty(areas_px.size, areas_px.dtype)
    for i in range(windows.shape[0]):
        y0, y1, x0, x1 = windows[i, 0], windows[i, 1], windows[i, 2], windows[i, 3]
        m = 0
        for j in range(areas_px.size):
            if y0 <= cell_row[j] < y1 and x0 <= cell_col[j] < x1:
                inside[m] = areas_px[j]
                m += 1
        out[i] = area_statistics(inside[:m], min_px)
    return out
