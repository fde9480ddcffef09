"""Grey-level co-occurrence features, counted per cell and summarised per window in compiled passes
shared by the tile path (a tile is one cell and one window) and the dense path. As numpy the summary
cast, transposed and walked hundreds of windows' matrices several times, the dense path's slowest
step; here each window's matrix is summed from its cells and read twice."""

from __future__ import annotations

import numba
import numpy as np

PROPERTIES = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation")


@numba.njit(cache=True, nogil=True)
def count_pairs(levels: np.ndarray, offsets: np.ndarray, row_of: np.ndarray, col_of: np.ndarray, out: np.ndarray) -> None:
    """One-way co-occurrences per (row, col) offset, counted at the cell of the pair's first pixel;
    pairs leaving the image are not counted, as scikit-image's `graycomatrix` does not."""
    h, w = levels.shape
    for k in range(offsets.shape[0]):
        dy, dx = offsets[k, 0], offsets[k, 1]
        for r in range(max(0, -dy), min(h, h - dy)):
            cells = out[row_of[r]]
            for c in range(max(0, -dx), min(w, w - dx)):
                cells[col_of[c], k, levels[r, c], levels[r + dy, c + dx]] += 1


@numba.njit(cache=True, nogil=True)
def window_features(counts: np.ndarray, windows: np.ndarray, angles: int) -> np.ndarray:
    """(cell rows, cell cols, distances * angles, L, L) one-way counts, distance-major, and (n, 4)
    blocks of cells -> (n, 5 * distances + 1): each of `PROPERTIES` per distance, property-major,
    averaged over angles, from the symmetric normalised matrix with scikit-image's `graycoprops`
    definitions (correlation 1 where a level deviation is 0); then the entropy (bits) of the matrix
    averaged over every offset."""
    offsets, levels = counts.shape[2], counts.shape[3]
    distances = offsets // angles
    out = np.zeros((windows.shape[0], 5 * distances + 1))
    matrix = np.empty((levels, levels))
    p = np.empty((levels, levels))  # the symmetric normalised matrix
    mean = np.empty((levels, levels))
    marginal = np.empty(levels)
    for i in range(windows.shape[0]):
        mean[:] = 0
        for k in range(offsets):
            matrix[:] = 0
            for cy in range(windows[i, 0], windows[i, 1]):
                for cx in range(windows[i, 2], windows[i, 3]):
                    matrix += counts[cy, cx, k]
            scale = 1.0 / max(2 * matrix.sum(), 1.0)
            contrast = dissimilarity = homogeneity = energy = 0.0
            marginal[:] = 0
            for a in range(levels):
                for b in range(levels):
                    p[a, b] = (matrix[a, b] + matrix[b, a]) * scale
                    d = a - b
                    contrast += p[a, b] * d * d
                    dissimilarity += p[a, b] * abs(d)
                    homogeneity += p[a, b] / (1.0 + d * d)
                    energy += p[a, b] * p[a, b]
                    marginal[a] += p[a, b]
            mean += p
            mu = 0.0
            for a in range(levels):
                mu += a * marginal[a]
            variance = 0.0
            for a in range(levels):
                variance += (a - mu) ** 2 * marginal[a]
            covariance = 0.0
            for a in range(levels):
                for b in range(levels):
                    covariance += (a - mu) * (b - mu) * p[a, b]
            correlation = 1.0 if np.sqrt(variance) < 1e-15 else covariance / variance
            d = k // angles
            for j, value in enumerate((contrast, dissimilarity, homogeneity, np.sqrt(energy), correlation)):
                out[i, j * distances + d] += value / angles
        entropy = 0.0
        for a in range(levels):
            for b in range(levels):
                share = mean[a, b] / offsets
                if share > 0:
                    entropy -= share * np.log2(share)
        out[i, 5 * distances] = entropy
    return out
