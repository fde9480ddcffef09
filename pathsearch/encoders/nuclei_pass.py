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


def window_area_statistics(
    areas_px: np.ndarray, cell_row: np.ndarray, cell_col: np.ndarray, cells_shape: tuple[int, int], windows: np.ndarray,
    min_px: int,
) -> np.ndarray:
    """(n windows, 4) `area_statistics` of the blobs whose centroid's cell lies in each window's block
    of cells (rows [y0, y1), cols [x0, x1)). Blobs are grouped by cell first, so each window reads
    only its own cells' blobs, not every blob of the image."""
    cell = cell_row * cells_shape[1] + cell_col
    order = np.argsort(cell, kind="stable")
    starts = np.searchsorted(cell[order], np.arange(cells_shape[0] * cells_shape[1] + 1))
    return _window_area_statistics(areas_px[order], starts, cells_shape[1], windows, min_px)


@numba.njit(cache=True, nogil=True)
def _window_area_statistics(
    areas_by_cell: np.ndarray, starts: np.ndarray, n_cols: int, windows: np.ndarray, min_px: int
) -> np.ndarray:
    out = np.empty((windows.shape[0], 4))
    inside = np.empty(areas_by_cell.size, areas_by_cell.dtype)
    for i in range(windows.shape[0]):
        m = 0
        for cy in range(windows[i, 0], windows[i, 1]):
            for cx in range(windows[i, 2], windows[i, 3]):
                first, last = starts[cy * n_cols + cx], starts[cy * n_cols + cx + 1]
                inside[m : m + last - first] = areas_by_cell[first:last]
                m += last - first
        out[i] = area_statistics(inside[:m], min_px)
    return out
