"""he-texture for every window of an image at once, each pixel's filters and codes computed once.

Overlapping windows (96 px at stride 32) would recompute every pixel about nine times. Instead the
image is resized once to the descriptor's scale, and the edges of all windows cut it into cells:
per-cell counts and sums (colour histograms, LBP codes, co-occurrences, filter energies) are taken in
one pass and each window adds up its cells. Statistics that are not sums are read off the window's
summed histograms (percentiles, Otsu), so they match the tile path. What differs from embedding each
window as a tile: filters and codes near a window's edge see the real neighbours instead of the tile
border, Gabor responses are centred on a 224-px local mean instead of the tile mean, and nuclei are
split at the image's Otsu level (their density still uses the window's own)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import cv2
import numba
import numpy as np

from pathsearch.encoders import texture as tx
from pathsearch.encoders.lbp import uniform_lbp

_HED_BINS = 1024  # haematoxylin/eosin/DAB densities are continuous: percentiles from fine bins


@dataclass(frozen=True)
class Cells:
    """Every window as a block of cells; cell edges are the union of all window edges."""

    row_of: np.ndarray  # cell row of each pixel row of the resized image
    col_of: np.ndarray
    shape: tuple[int, int]  # cells (rows, cols)
    windows: np.ndarray  # (n, 4) cell rows [y0, y1) and cols [x0, x1) per window

    def window_px(self) -> np.ndarray:
        """(n,) pixels per window."""
        per_cell = np.outer(np.bincount(self.row_of), np.bincount(self.col_of))
        return _window_sums(self, per_cell)


def cells_for(coords: np.ndarray, patch_px: int, resized_shape: tuple[int, int], scale: float) -> Cells:
    def axis(starts: np.ndarray, extent: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        edges = np.unique(np.concatenate([starts, starts + patch_px]))
        resized = np.minimum(np.round(edges * scale).astype(np.int64), extent)
        cell_of = np.searchsorted(resized, np.arange(extent), side="right") - 1
        return np.clip(cell_of, 0, len(edges) - 2), np.searchsorted(edges, starts), np.searchsorted(edges, starts + patch_px)

    row_of, y0, y1 = axis(coords[:, 1], resized_shape[0])
    col_of, x0, x1 = axis(coords[:, 0], resized_shape[1])
    shape = (int(row_of.max()) + 1, int(col_of.max()) + 1)
    return Cells(row_of, col_of, shape, np.stack([y0, y1, x0, x1], axis=1))


@numba.njit(cache=True, nogil=True)
def _count(codes: np.ndarray, weights: np.ndarray, row_of: np.ndarray, col_of: np.ndarray, out: np.ndarray) -> None:
    for r in range(codes.shape[0]):
        cy = row_of[r]
        for c in range(codes.shape[1]):
            out[cy, col_of[c], codes[r, c]] += weights[r, c]


@numba.njit(cache=True, nogil=True)
def _count_pairs(levels: np.ndarray, offsets: np.ndarray, row_of: np.ndarray, col_of: np.ndarray, out: np.ndarray) -> None:
    """One-way co-occurrences, counted at the cell of the pair's first pixel."""
    h, w = levels.shape
    for k in range(offsets.shape[0]):
        dy, dx = offsets[k, 0], offsets[k, 1]
        for r in range(max(0, -dy), min(h, h - dy)):
            cy = row_of[r]
            for c in range(max(0, -dx), min(w, w - dx)):
                out[cy, col_of[c], k, levels[r, c], levels[r + dy, c + dx]] += 1


def _cell_counts(cells: Cells, codes: np.ndarray, bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    out = np.zeros((*cells.shape, bins), np.float64 if weights is not None else np.int64)
    w = weights if weights is not None else np.ones((1, 1), np.int64)
    _count(codes, np.broadcast_to(w, codes.shape), cells.row_of, cells.col_of, out)
    return out


def _cell_sums(cells: Cells, values: np.ndarray) -> np.ndarray:
    """(cells rows, cells cols, ...) sums of a per-pixel map."""
    rows = np.add.reduceat(values, np.flatnonzero(np.diff(cells.row_of, prepend=-1)), axis=0)
    return np.add.reduceat(rows, np.flatnonzero(np.diff(cells.col_of, prepend=-1)), axis=1)


@numba.njit(cache=True, nogil=True)
def _sum_blocks(per_cell: np.ndarray, windows: np.ndarray, out: np.ndarray) -> None:
    for i in range(windows.shape[0]):
        for cy in range(windows[i, 0], windows[i, 1]):
            for cx in range(windows[i, 2], windows[i, 3]):
                out[i] += per_cell[cy, cx]


def _window_sums(cells: Cells, per_cell: np.ndarray) -> np.ndarray:
    """(n windows, ...) float64 sums over each window's block of cells."""
    flat = per_cell.reshape(*per_cell.shape[:2], -1)
    out = np.zeros((len(cells.windows), flat.shape[2]))
    _sum_blocks(flat, cells.windows, out)
    return out.reshape(len(cells.windows), *per_cell.shape[2:])


def _otsu(counts: np.ndarray) -> np.ndarray:
    """(n, 256) histograms -> OpenCV's Otsu level per row (the first maximum of between-class variance)."""
    p = counts / counts.sum(axis=1, keepdims=True)
    levels = np.arange(256)
    q1 = np.cumsum(p, axis=1)
    mu = np.cumsum(p * levels, axis=1)
    q2 = 1 - q1
    with np.errstate(divide="ignore", invalid="ignore"):
        between = q1 * q2 * (mu / q1 - (mu[:, -1:] - mu) / q2) ** 2
    eps = np.finfo(np.float32).eps
    between[(np.minimum(q1, q2) < eps) | (np.maximum(q1, q2) > 1 - eps)] = -1
    return between.argmax(axis=1)


def _colour(cells: Cells, rgb: np.ndarray, hed: np.ndarray) -> np.ndarray:
    n = len(cells.windows)
    total = cells.window_px()[:, None]
    means = _window_sums(cells, _cell_sums(cells, hed)) / total
    stds = np.sqrt(np.maximum(_window_sums(cells, _cell_sums(cells, hed * hed)) / total - means**2, 0))
    pcts = np.empty((n, 3, len(tx._PERCENTILES)))
    for c in range(3):
        top = max(float(hed[..., c].max()), 1e-9)
        codes = np.minimum(hed[..., c] * (_HED_BINS / top), _HED_BINS - 1).astype(np.int64)
        counts = _window_sums(cells, _cell_counts(cells, codes, _HED_BINS))
        pcts[:, c] = tx.percentiles_from_counts(counts, (np.arange(_HED_BINS) + 0.5) * top / _HED_BINS)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
    u8 = np.stack([_window_sums(cells, _cell_counts(cells, ch, 256)) for ch in (hsv[..., 1], hsv[..., 2], *lab.transpose(2, 0, 1))], 1)
    hue = _window_sums(cells, _cell_counts(cells, tx.hue_bins(hsv[..., 0]), tx._HUE_BINS, hsv[..., 1] / 255.0))
    return np.concatenate(
        [tx.colour_features(means, stds, pcts), tx.u8_channel_features(u8[:, :2]), tx.u8_channel_features(u8[:, 2:]), tx.hue_features(hue)],
        axis=1,
    )


def _lbp(cells: Cells, channel: np.ndarray) -> np.ndarray:
    return tx.lbp_features([_window_sums(cells, _cell_counts(cells, uniform_lbp(channel, p, r), p + 2)) for p, r in tx._LBP])


def _glcm(cells: Cells, gray: np.ndarray) -> np.ndarray:
    offsets = np.array(tx.glcm_offsets(), np.int64)
    counts = np.zeros((*cells.shape, len(offsets), tx._GLCM_LEVELS, tx._GLCM_LEVELS), np.int32)
    _count_pairs(tx.glcm_levels(gray), offsets, cells.row_of, cells.col_of, counts)
    windows = _window_sums(cells, counts).astype(np.float32)  # (n, distance*angle, L, L), distance-major
    n = len(windows)
    windows = windows.reshape(n, len(tx._GLCM_DISTANCES), len(tx._GLCM_ANGLES), tx._GLCM_LEVELS, tx._GLCM_LEVELS)
    return tx.glcm_features(windows.transpose(0, 3, 4, 1, 2))


@cache
def _separable_factors() -> list[tuple[np.ndarray, np.ndarray] | None]:
    """(row kernel, column kernel) of each Gabor kernel that is an outer product (those along the image
    axes), else None: two 1-D passes cost a quarter of `filter2D`'s DFT at this image size."""
    factors = []
    for kernel in tx.gabor_kernels():
        u, s, vt = np.linalg.svd(kernel.astype(np.float64))
        rank_one = s[1] < 1e-6 * s[0]
        factors.append(((vt[0] * np.sqrt(s[0])).astype(np.float32), (u[:, 0] * np.sqrt(s[0])).astype(np.float32)) if rank_one else None)
    return factors


def _gabor(cells: Cells, gray: np.ndarray) -> np.ndarray:
    g = gray.astype(np.float32) / 255.0
    # the tile path subtracts the tile's mean; here each pixel's 224-px neighbourhood mean stands in
    local_mean = cv2.blur(g, (tx.TEXTURE_SIDE_PX, tx.TEXTURE_SIDE_PX), borderType=cv2.BORDER_REFLECT_101)
    energy = []
    for kernel, factors in zip(tx.gabor_kernels(), _separable_factors(), strict=True):
        if factors is None:
            response = cv2.filter2D(g, cv2.CV_32F, kernel)
        else:
            response = cv2.sepFilter2D(g, cv2.CV_32F, *factors)
        response -= local_mean * np.float32(kernel.sum())
        energy.append(_window_sums(cells, _cell_sums(cells, np.abs(response, out=response))))
    return tx.gabor_features(np.stack(energy, axis=1) / cells.window_px()[:, None])


def _nuclei(cells: Cells, hematoxylin: np.ndarray, gray: np.ndarray) -> np.ndarray:
    counts = _window_sums(cells, _cell_counts(cells, hematoxylin, 256))
    levels = np.maximum(_otsu(counts), tx.nuclei_threshold(0))
    fraction = np.where(np.arange(256) > levels[:, None], counts, 0).sum(axis=1) / counts.sum(axis=1)
    empty = _window_sums(cells, _cell_counts(cells, (gray > tx._EMPTY_GRAY_LEVEL).astype(np.uint8), 2))
    image_level = tx.nuclei_threshold(float(_otsu(np.bincount(hematoxylin.ravel(), minlength=256)[None])[0]))
    _, _, stats, centroids = cv2.connectedComponentsWithStats((hematoxylin > image_level).astype(np.uint8))
    cy = cells.row_of[np.clip(centroids[1:, 1].astype(np.int64), 0, len(cells.row_of) - 1)]
    cx = cells.col_of[np.clip(centroids[1:, 0].astype(np.int64), 0, len(cells.col_of) - 1)]
    areas = stats[1:, cv2.CC_STAT_AREA]
    rows = []
    for (y0, y1, x0, x1), f, e in zip(cells.windows, fraction, empty[:, 1] / empty.sum(axis=1), strict=True):
        inside = (cy >= y0) & (cy < y1) & (cx >= x0) & (cx < x1)
        rows.append(tx.nuclei_features(float(f), areas[inside], float(e)))
    return np.asarray(rows)


def dense_texture_features(image: np.ndarray, coords: np.ndarray, patch_px: int) -> np.ndarray:
    """Raw he-texture descriptors of the `patch_px` windows at `coords` (top-left x, y) of an RGB image."""
    scale = tx.TEXTURE_SIDE_PX / patch_px
    h, w = image.shape[:2]
    rgb = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    cells = cells_for(coords, patch_px, rgb.shape[:2], scale)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hed = tx.rgb2hed(rgb)
    hematoxylin = tx.stain_u8(hed[..., 0], tx._MAX_OD_HEMATOXYLIN)
    eosin = tx.stain_u8(hed[..., 1], tx._MAX_OD_EOSIN)
    with ThreadPoolExecutor(2) as pool:  # the compiled steps release the GIL
        jobs = [
            pool.submit(_colour, cells, rgb, hed), pool.submit(_lbp, cells, gray), pool.submit(_lbp, cells, eosin),
            pool.submit(_glcm, cells, gray), pool.submit(_gabor, cells, gray), pool.submit(_nuclei, cells, hematoxylin, gray),
        ]
        return np.concatenate([j.result() for j in jobs], axis=1).astype(np.float32)
