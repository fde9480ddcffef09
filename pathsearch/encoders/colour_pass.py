"""he-texture's colour-deconvolution statistics in one compiled, GIL-free pass per tile.

numpy's percentile partitions each 50k-pixel stain channel (2 ms of a 14 ms tile, the largest single
step) and, with the small numpy calls around it, holds the GIL, so two encoder threads ran only 1.7x one.
Here the order statistics come from a bucket count and a sort of the few values in the buckets they
fall in: the same values numpy's partition picks, with the same interpolation.
"""

from __future__ import annotations

import numba
import numpy as np

_BUCKETS = 4096


def one_cell(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, int, int]:
    """The cell arguments (row_of, col_of, rows, cols) of the passes that count per cell, for a tile
    counted whole: the tile path and the dense path share each pass."""
    return np.zeros(shape[0], np.int64), np.zeros(shape[1], np.int64), 1, 1


@numba.njit(cache=True, nogil=True)
def order_statistics(values: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """`np.sort(values)[ranks]` without the sort. Bucket 0 holds the minimum alone, so the ties a
    clipped stain channel piles up at 0 never need sorting; the bucket index is monotone in the value,
    so a rank's bucket holds exactly the values around it."""
    low, high = values.min(), values.max()
    out = np.full(ranks.size, low)
    if low == high:
        return out
    scale = (_BUCKETS - 1) / (high - low)
    bucket = np.empty(values.size, np.int64)
    counts = np.zeros(_BUCKETS + 1, np.int64)
    for i in range(values.size):
        b = 0 if values[i] == low else min(int((values[i] - low) * scale) + 1, _BUCKETS)
        bucket[i] = b
        counts[b] += 1
    starts = np.zeros(_BUCKETS + 2, np.int64)
    starts[1:] = np.cumsum(counts)
    rank_bucket = np.searchsorted(starts, ranks, side="right") - 1
    needed = np.zeros(_BUCKETS + 1, np.bool_)
    for b in rank_bucket:
        needed[b] = b > 0
    offset = np.zeros(_BUCKETS + 1, np.int64)  # where each needed bucket starts in the gathered buffer
    total = 0
    for b in range(_BUCKETS + 1):
        offset[b] = total
        if needed[b]:
            total += counts[b]
    gathered = np.empty(total)
    fill = offset.copy()
    for i in range(values.size):
        if needed[bucket[i]]:
            gathered[fill[bucket[i]]] = values[i]
            fill[bucket[i]] += 1
    gathered.sort()  # bucket-major already, since buckets are monotone in the value
    for j in range(ranks.size):
        b = rank_bucket[j]
        if b > 0:
            out[j] = gathered[offset[b] + ranks[j] - starts[b]]
    return out


@numba.njit(cache=True, nogil=True)
def interpolate(low: float, high: float, t: float) -> float:
    """numpy's two-sided interpolation between neighbouring order statistics."""
    return low + (high - low) * t if t < 0.5 else high - (high - low) * (1 - t)


@numba.njit(cache=True, nogil=True)
def percentiles(values: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """numpy's default (linear) percentile, its index arithmetic and its two-sided interpolation."""
    n = values.size
    index = qs / 100 * (n - 1)
    below = np.floor(index)
    ranks = np.empty(2 * qs.size, np.int64)
    for j in range(qs.size):
        ranks[2 * j] = int(below[j])
        ranks[2 * j + 1] = min(int(below[j]) + 1, n - 1)
    picked = order_statistics(values, ranks)
    out = np.empty(qs.size)
    for j in range(qs.size):
        out[j] = interpolate(picked[2 * j], picked[2 * j + 1], index[j] - below[j])
    return out


@numba.njit(cache=True, nogil=True)
def percentiles_from_counts(counts: np.ndarray, values: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """(n, bins) histograms of exact `values` -> (n, len(qs)) percentiles, as `percentiles` gives on
    the values the counts stand for, with no sort."""
    out = np.empty((counts.shape[0], qs.size))
    for i in range(counts.shape[0]):
        cumulative = np.cumsum(counts[i])
        total = cumulative[-1]
        for j in range(qs.size):
            index = qs[j] / 100 * (total - 1)
            below = np.floor(index)
            low = values[np.searchsorted(cumulative, below, side="right")]  # first bin past `below` values
            high = values[np.searchsorted(cumulative, min(below + 1, total - 1), side="right")]
            out[i, j] = interpolate(low, high, index - below)
    return out


@numba.njit(cache=True, nogil=True, inline="always")
def _hed_at(rgb: np.ndarray, r: int, c: int, density_lut: np.ndarray, hed_from_rgb: np.ndarray, k: int) -> float:
    """`rgb2hed`'s channel k at one pixel."""
    od0, od1, od2 = density_lut[rgb[r, c, 0]], density_lut[rgb[r, c, 1]], density_lut[rgb[r, c, 2]]
    return max(od0 * hed_from_rgb[0, k] + od1 * hed_from_rgb[1, k] + od2 * hed_from_rgb[2, k], 0.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _stain_u8(value: float, max_od: float) -> np.uint8:
    return np.uint8(min(max(value / max_od, 0.0), 1.0) * 255)


@numba.njit(cache=True, nogil=True)
def hed_pass(
    rgb: np.ndarray, density_lut: np.ndarray, hed_from_rgb: np.ndarray, max_od: np.ndarray, qs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 -> per stain channel mean, std and percentiles, and the first two channels as
    8-bit images saturating at `max_od` (the haematoxylin image nuclei are found in, and eosin's)."""
    h, w, _ = rgb.shape
    n = h * w
    hed = np.empty((3, n))
    stains = np.empty((2, h, w), np.uint8)
    for r in range(h):
        for c in range(w):
            for k in range(3):
                value = _hed_at(rgb, r, c, density_lut, hed_from_rgb, k)
                hed[k, r * w + c] = value
                if k < 2:
                    stains[k, r, c] = _stain_u8(value, max_od[k])
    means, stds, pcts = np.empty(3), np.empty(3), np.empty((3, qs.size))
    for k in range(3):
        means[k] = hed[k].mean()
        stds[k] = np.sqrt(((hed[k] - means[k]) ** 2).mean())
        pcts[k] = percentiles(hed[k], qs)
    return means, stds, pcts, stains


@numba.njit(cache=True, nogil=True)
def hed_cells(
    rgb: np.ndarray, density_lut: np.ndarray, hed_from_rgb: np.ndarray, max_od: np.ndarray,
    row_of: np.ndarray, col_of: np.ndarray, n_rows: int, n_cols: int, bins: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The dense path's `hed_pass`: per cell, each stain channel's sum, sum of squares and counts in
    `bins` equal bins up to the channel's image-wide maximum (the percentiles' grid, returned), and
    the two 8-bit stain images. The second pass recomputes each pixel's densities rather than keep
    24 bytes a pixel."""
    h, w, _ = rgb.shape
    sums = np.zeros((n_rows, n_cols, 3))
    squares = np.zeros((n_rows, n_cols, 3))
    top = np.full(3, 1e-9)
    stains = np.empty((2, h, w), np.uint8)
    for r in range(h):
        cy = row_of[r]
        for c in range(w):
            cx = col_of[c]
            for k in range(3):
                value = _hed_at(rgb, r, c, density_lut, hed_from_rgb, k)
                sums[cy, cx, k] += value
                squares[cy, cx, k] += value * value
                top[k] = max(top[k], value)
                if k < 2:
                    stains[k, r, c] = _stain_u8(value, max_od[k])
    counts = np.zeros((n_rows, n_cols, 3, bins), np.int64)
    per_bin = bins / top
    for r in range(h):
        cy = row_of[r]
        for c in range(w):
            cx = col_of[c]
            for k in range(3):
                counts[cy, cx, k, min(int(_hed_at(rgb, r, c, density_lut, hed_from_rgb, k) * per_bin[k]), bins - 1)] += 1
    return sums, squares, counts, top, stains


@numba.njit(cache=True, nogil=True)
def channel_counts(
    hsv: np.ndarray, lab: np.ndarray, hue_bins: int, row_of: np.ndarray, col_of: np.ndarray, n_rows: int, n_cols: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per cell (a tile is one), (5, 256) counts of saturation, value, L, a and b, and the
    saturation-weighted hue histogram, added pixel by pixel in the order `np.bincount` adds them."""
    counts = np.zeros((n_rows, n_cols, 5, 256), np.int64)
    hue = np.zeros((n_rows, n_cols, hue_bins))
    h, w, _ = hsv.shape
    for r in range(h):
        cy = row_of[r]
        for c in range(w):
            cell = counts[cy, col_of[c]]
            for k in range(2):
                cell[k, hsv[r, c, k + 1]] += 1
            for k in range(3):
                cell[k + 2, lab[r, c, k]] += 1
            hue[cy, col_of[c], min(np.int64(hsv[r, c, 0]) * hue_bins // 255, hue_bins - 1)] += hsv[r, c, 1] / 255.0
    return counts, hue
