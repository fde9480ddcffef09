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

import cv2
import numba
import numpy as np
from skimage.color import hed_from_rgb

from pathsearch.encoders import colour_pass, glcm_pass
from pathsearch.encoders import texture as tx
from pathsearch.encoders.lbp import uniform_lbp_cell_counts
from pathsearch.encoders.nuclei_pass import window_area_statistics

_HED_BINS = 1024  # haematoxylin/eosin/DAB densities are continuous: percentiles from fine bins


@dataclass(frozen=True)
class Cells:
    """Every window as a block of cells; cell edges are the union of all window edges."""

    row_of: np.ndarray  # cell row of each pixel row of the resized image
    col_of: np.ndarray
    shape: tuple[int, int]  # cells (rows, cols)
    windows: np.ndarray  # (n, 4) cell rows [y0, y1) and cols [x0, x1) per window

    def args(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(row_of, col_of, rows, cols): the cell arguments of the compiled passes."""
        return self.row_of, self.col_of, *self.shape

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
def _count(codes: np.ndarray, row_of: np.ndarray, col_of: np.ndarray, out: np.ndarray) -> None:
    for r in range(codes.shape[0]):
        cy = row_of[r]
        for c in range(codes.shape[1]):
            out[cy, col_of[c], codes[r, c]] += 1


def _cell_counts(cells: Cells, codes: np.ndarray, bins: int) -> np.ndarray:
    out = np.zeros((*cells.shape, bins), np.int64)
    _count(codes, cells.row_of, cells.col_of, out)
    return out


@numba.njit(cache=True, nogil=True)
def _centred_abs_sums(
    response: np.ndarray, local_mean: np.ndarray, weight: np.float32, row_of: np.ndarray, col_bounds: np.ndarray,
    first_col: int, out: np.ndarray,
) -> None:
    """Per cell, the sum of |response - weight * local_mean| (float32 as the filter gives it, summed in
    float64) over a block whose columns [col_bounds[j], col_bounds[j + 1]) lie in cell column
    first_col + j: one pass, where numpy's subtract, abs and sums streamed the block six times."""
    for r in range(response.shape[0]):
        row = out[row_of[r]]
        for j in range(col_bounds.size - 1):
            total = 0.0
            for c in range(col_bounds[j], col_bounds[j + 1]):
                total += abs(response[r, c] - weight * local_mean[r, c])
            row[first_col + j] += total


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


def _colour(cells: Cells, rgb: np.ndarray, hed: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """`hed`: the per-cell sums, squares, counts and bin tops of `colour_pass.hed_cells`."""
    sums, squares, counts, top = hed
    total = cells.window_px()[:, None]
    means = _window_sums(cells, sums) / total
    stds = np.sqrt(np.maximum(_window_sums(cells, squares) / total - means**2, 0))
    window_counts = _window_sums(cells, counts)
    pcts = np.stack(
        [tx.percentiles_from_counts(window_counts[:, c], (np.arange(_HED_BINS) + 0.5) * top[c] / _HED_BINS) for c in range(3)], axis=1
    )
    u8, hue = colour_pass.channel_counts(
        cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL), cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), tx._HUE_BINS, *cells.args()
    )
    u8 = _window_sums(cells, u8)
    return np.concatenate(
        [tx.colour_features(means, stds, pcts), tx.u8_channel_features(u8[:, :2]), tx.u8_channel_features(u8[:, 2:]),
         tx.hue_features(_window_sums(cells, hue))],
        axis=1,
    )


# The largest sampling circle costs as much as the other two together: two steps of equal length.
_LBP_STEPS = (tx._LBP[:2], tx._LBP[2:])


def _lbp_counts(cells: Cells, channel: np.ndarray, params: tuple[tuple[int, float], ...]) -> list[np.ndarray]:
    return [_window_sums(cells, counts) for counts in uniform_lbp_cell_counts(channel, params, cells.args())]


def _glcm(cells: Cells, gray: np.ndarray) -> np.ndarray:
    return glcm_pass.window_features(tx.glcm_counts(gray, *cells.args()), cells.windows, len(tx._GLCM_ANGLES))


_GABOR_BLOCK_PX = tx._GABOR_DFT_PX - 2 * tx._GABOR_HALF_PX  # output px a block side: the rest is the filters' margin


def _gabor_input(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image bordered as filter2D borders it (reflect 101), and each pixel's 224-px neighbourhood
    mean, which stands in for the tile path's tile mean."""
    g = gray.astype(np.float32) / 255.0
    local_mean = cv2.blur(g, (tx.TEXTURE_SIDE_PX, tx.TEXTURE_SIDE_PX), borderType=cv2.BORDER_REFLECT_101)
    return cv2.copyMakeBorder(g, *(tx._GABOR_HALF_PX,) * 4, cv2.BORDER_REFLECT_101), local_mean


def _gabor_block(cells: Cells, bordered: np.ndarray, local_mean: np.ndarray, y0: int, x0: int) -> np.ndarray:
    """(kernels, cell rows, cell cols) sums of |response| over one block of the image, filtered as the
    tile path filters a tile: one forward DFT at the tile path's size and one inverse per kernel,
    where `filter2D` (and `sepFilter2D` for the axis-aligned kernels) cost about twice as much."""
    h, w = local_mean.shape
    rows, cols = min(_GABOR_BLOCK_PX, h - y0), min(_GABOR_BLOCK_PX, w - x0)
    margin = 2 * tx._GABOR_HALF_PX
    block = np.zeros((tx._GABOR_DFT_PX,) * 2, np.float32)
    block[: rows + margin, : cols + margin] = bordered[y0 : y0 + rows + margin, x0 : x0 + cols + margin]
    spectrum = cv2.dft(block)
    col_of = cells.col_of[x0 : x0 + cols]
    col_bounds = np.searchsorted(col_of, np.arange(col_of[0], col_of[-1] + 2))
    mean = local_mean[y0 : y0 + rows, x0 : x0 + cols]
    sums = np.zeros((len(tx.gabor_kernels()), *cells.shape))
    for k, (kernel, response) in enumerate(zip(tx.gabor_kernels(), tx.gabor_responses(spectrum, (rows, cols)), strict=True)):
        _centred_abs_sums(response, mean, np.float32(kernel.sum()), cells.row_of[y0 : y0 + rows], col_bounds, int(col_of[0]), sums[k])
    return sums


def _nuclei(cells: Cells, hematoxylin: np.ndarray, gray: np.ndarray) -> np.ndarray:
    counts = _window_sums(cells, _cell_counts(cells, hematoxylin, 256))
    levels = np.maximum(_otsu(counts), tx.nuclei_threshold(0))
    fraction = np.where(np.arange(256) > levels[:, None], counts, 0).sum(axis=1) / counts.sum(axis=1)
    empty = _window_sums(cells, _cell_counts(cells, (gray > tx._EMPTY_GRAY_LEVEL).astype(np.uint8), 2))
    image_level = tx.nuclei_threshold(float(_otsu(np.bincount(hematoxylin.ravel(), minlength=256)[None])[0]))
    _, _, stats, centroids = cv2.connectedComponentsWithStats((hematoxylin > image_level).astype(np.uint8))
    cy = cells.row_of[np.clip(centroids[1:, 1].astype(np.int64), 0, len(cells.row_of) - 1)]
    cx = cells.col_of[np.clip(centroids[1:, 0].astype(np.int64), 0, len(cells.col_of) - 1)]
    sizes = window_area_statistics(stats[1:, cv2.CC_STAT_AREA], cy, cx, cells.shape, cells.windows, tx._MIN_NUCLEUS_PX)
    return np.column_stack([fraction, sizes, empty[:, 1] / empty.sum(axis=1)])


def dense_texture_features(image: np.ndarray, coords: np.ndarray, patch_px: int) -> np.ndarray:
    """Raw he-texture descriptors of the `patch_px` windows at `coords` (top-left x, y) of an RGB image."""
    scale = tx.TEXTURE_SIDE_PX / patch_px
    h, w = image.shape[:2]
    rgb = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
    cells = cells_for(coords, patch_px, rgb.shape[:2], scale)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    with ThreadPoolExecutor(2) as pool:  # the compiled steps and OpenCV release the GIL
        # Many short steps, the longest first, so that neither thread idles at the end. The stain pass
        # goes first and is waited for here, not in a worker, since the last steps need its images.
        hed = pool.submit(
            colour_pass.hed_cells, np.ascontiguousarray(rgb), tx._optical_density_lut(), hed_from_rgb, tx._STAIN_MAX_OD,
            *cells.args(), _HED_BINS,
        )
        glcm = pool.submit(_glcm, cells, gray)
        lbp_gray = [pool.submit(_lbp_counts, cells, gray, params) for params in _LBP_STEPS]
        bordered, local_mean = _gabor_input(gray)
        gabor = [
            pool.submit(_gabor_block, cells, bordered, local_mean, y0, x0)
            for y0 in range(0, gray.shape[0], _GABOR_BLOCK_PX)
            for x0 in range(0, gray.shape[1], _GABOR_BLOCK_PX)
        ]
        *sums, (hematoxylin, eosin) = hed.result()
        colour = pool.submit(_colour, cells, rgb, sums)
        lbp_eosin = [pool.submit(_lbp_counts, cells, eosin, params) for params in _LBP_STEPS]
        nuclei = pool.submit(_nuclei, cells, hematoxylin, gray)
        energy = _window_sums(cells, sum(step.result() for step in gabor).transpose(1, 2, 0)) / cells.window_px()[:, None]
        parts = (
            colour.result(),
            *(tx.lbp_features([counts for step in steps for counts in step.result()]) for steps in (lbp_gray, lbp_eosin)),
            glcm.result(),
            tx.gabor_features(energy),
            nuclei.result(),
        )
        return np.concatenate(parts, axis=1).astype(np.float32)
