"""Rotation-invariant uniform LBP codes, equal to scikit-image's `local_binary_pattern(..., "uniform")`
bit for bit (the same float operations in the same order), about 20x faster and compiled without the
GIL, so tiles run in parallel threads."""

from __future__ import annotations

import numba
import numpy as np


def circle_offsets(points: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) offsets of the sampling circle, rounded to 5 decimals as scikit-image rounds them."""
    angles = 2 * np.pi * np.arange(points, dtype=np.float64) / points
    return np.round(-radius * np.sin(angles), 5), np.round(radius * np.cos(angles), 5)


def _fractions(extent: int, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per position and point: the floor offset and the interpolation fraction, computed from
    `position + offset` exactly as scikit-image does per pixel (the fraction's last bits vary by position)."""
    pos = np.arange(extent, dtype=np.float64)[:, None] + offsets[None, :]
    low = np.floor(pos)
    return low[0].astype(np.int64), pos - low


@numba.njit(cache=True, nogil=True)
def _codes(padded: np.ndarray, pad: int, r0: np.ndarray, c0: np.ndarray, dr: np.ndarray, dc: np.ndarray, out: np.ndarray) -> None:
    """Point by point over the whole image, so the inner loop is branch-free and vectorises. An integral
    offset has fraction 0, and 1 * a + 0 * b == a, so it takes the same path and still matches."""
    h, w = out.shape
    ones = np.zeros((h, w), np.uint8)
    changes = np.zeros((h, w), np.uint8)
    previous = np.zeros((h, w), np.uint8)
    for i in range(r0.size):
        fxs = dc[i]
        for r in range(h):
            fy = dr[i, r]
            above = padded[r + pad + r0[i], pad + c0[i] :]
            below = padded[r + pad + r0[i] + 1, pad + c0[i] :]
            centres = padded[r + pad, pad:]
            row_ones, row_changes, row_previous = ones[r], changes[r], previous[r]
            for c in range(w):
                fx = fxs[c]
                top = (1 - fx) * above[c] + fx * above[c + 1]
                bottom = (1 - fx) * below[c] + fx * below[c + 1]
                bit = np.uint8((1 - fy) * top + fy * bottom - centres[c] >= 0)
                row_ones[c] += bit
                row_changes[c] += bit ^ row_previous[c]
                row_previous[c] = bit
        if i == 0:
            first = previous.copy()
    for r in range(h):
        for c in range(w):
            # scikit-image counts changes between neighbouring points only, not across the wrap from the
            # last point to the first; the first point's "change" against the zero start comes off here.
            out[r, c] = ones[r, c] if changes[r, c] - first[r, c] <= 2 else r0.size + 1


def uniform_lbp(image_u8: np.ndarray, points: int, radius: float) -> np.ndarray:
    """(H, W) uint8 codes 0..points+1: the number of set bits for uniform patterns, points+1 otherwise."""
    h, w = image_u8.shape
    pad = int(np.ceil(radius)) + 1  # zeros outside, as scikit-image's constant mode with cval 0
    padded = np.zeros((h + 2 * pad, w + 2 * pad))
    padded[pad : pad + h, pad : pad + w] = image_u8
    rps, cps = circle_offsets(points, radius)
    r0, dr = _fractions(h, rps)
    c0, dc = _fractions(w, cps)
    dr, dc = np.ascontiguousarray(dr.T), np.ascontiguousarray(dc.T)
    out = np.empty((h, w), np.uint8)
    _codes(padded, pad, r0, c0, dr, dc, out)
    return out
