"""Tile grids at a physical resolution, with O(1) exact tissue fractions per tile."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from pathsearch.errors import SlideError
from pathsearch.slide.base import Slide


@dataclass(frozen=True)
class TileGeometry:
    """How a tile of `patch_size` px at `target_mpp` maps onto the slide's levels."""

    patch_size: int
    patch_size_level0: int
    step_level0: int
    overlap: int
    level0_mpp: float
    target_mpp: float
    read_level: int
    read_size: int
    read_downsample: float

    @property
    def downsample(self) -> float:
        """Level-0 px per output px, as QuPath's `d=` field."""
        return self.patch_size_level0 / self.patch_size


def plan_geometry(
    slide: Slide,
    level0_mpp: float,
    target_mpp: float,
    patch_size: int,
    overlap: int = 0,
    tolerance: float = 0.05,
) -> TileGeometry:
    """Read from the coarsest level not coarser than the target; never upsample silently."""
    if not 0 <= overlap < patch_size:
        raise SlideError(f"--overlap {overlap} must be in [0, tile size {patch_size})")
    target_ds = target_mpp / level0_mpp
    if target_ds < 1.0 - tolerance:
        raise SlideError(
            f"{slide.path.name}: target {target_mpp} um/px is finer than the scan's "
            f"{level0_mpp:.4g} um/px and would need upsampling; use --target-mpp >= "
            f"{level0_mpp:.4g} (or a lower --magnification)"
        )
    read_level = slide.best_level_for_downsample(target_ds, tolerance)
    read_ds = slide.level_downsamples[read_level]
    patch_size_level0 = round(patch_size * target_ds)
    return TileGeometry(
        patch_size=patch_size,
        patch_size_level0=patch_size_level0,
        step_level0=max(1, round((patch_size - overlap) * target_ds)),
        overlap=overlap,
        level0_mpp=level0_mpp,
        target_mpp=target_mpp,
        read_level=read_level,
        read_size=max(1, round(patch_size_level0 / read_ds)),
        read_downsample=read_ds,
    )


def read_tile(
    slide: Slide, xy: tuple[int, int], read_level: int, read_size: int, patch_size: int
) -> np.ndarray:
    """One tile as tiles.h5 describes it: read_size px at read_level, resized to patch_size."""
    return _read_resized(slide, xy, read_level, (read_size, read_size), (patch_size, patch_size))


def _read_resized(
    slide: Slide, xy: tuple[int, int], level: int, read_wh: tuple[int, int], out_wh: tuple[int, int]
) -> np.ndarray:
    return resized(slide.read_region(xy, level, read_wh), out_wh)


def resized(region: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """Area-averaged to (w, h), never upsampled by the callers; contiguous either way."""
    if region.shape[1::-1] == out_wh:
        return np.ascontiguousarray(region)
    return cv2.resize(region, out_wh, interpolation=cv2.INTER_AREA)


def read_box(slide: Slide, box_level0: tuple[int, int, int, int], downsample: float, tolerance: float = 0.05) -> np.ndarray:
    """A level-0 box (x, y, w, h) as an image at `downsample` level-0 px per px, as QuPath exports regions.

    Read from the coarsest level not coarser than `downsample`, then resized; never upsampled."""
    x, y, w, h = box_level0
    width, height = slide.dimensions
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise SlideError(f"{slide.path.name}: region x={x},y={y},w={w},h={h} is not inside the slide's {width}x{height} px")
    if downsample < 1.0 - tolerance:
        raise SlideError(f"downsample {downsample:g} would upsample {slide.path.name}'s full resolution; use 1 or more")
    level = slide.best_level_for_downsample(downsample, tolerance)
    level_ds = slide.level_downsamples[level]
    read_wh = (max(1, round(w / level_ds)), max(1, round(h / level_ds)))
    return _read_resized(slide, (x, y), level, read_wh, (max(1, round(w / downsample)), max(1, round(h / downsample))))


def integral_image(mask: np.ndarray) -> np.ndarray:
    """Summed-area table with a zero first row and column."""
    return cv2.integral(mask.astype(np.uint8), sdepth=cv2.CV_64F)


def _area_below(table: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask area in [0, x) x [0, y) at fractional mask coordinates: bilinear on the table is exact."""
    h, w = table.shape[0] - 1, table.shape[1] - 1
    x, y = np.clip(x, 0, w), np.clip(y, 0, h)
    x0, y0 = np.minimum(np.floor(x).astype(np.int64), w - 1), np.minimum(np.floor(y).astype(np.int64), h - 1)
    fx, fy = x - x0, y - y0
    s00, s10 = table[y0, x0], table[y0, x0 + 1]
    s01, s11 = table[y0 + 1, x0], table[y0 + 1, x0 + 1]
    return s00 + fx * (s10 - s00) + fy * (s01 - s00) + fx * fy * (s11 - s10 - s01 + s00)


def mask_fractions(
    mask: np.ndarray, downsample: tuple[float, float], coords: np.ndarray, box_level0: int
) -> np.ndarray:
    """Exact area fraction of each level-0 box covered by a (piecewise-constant) mask: tissue or a class."""
    table = integral_image(mask)
    dx, dy = downsample
    x0, y0 = coords[:, 0] / dx, coords[:, 1] / dy
    x1, y1 = (coords[:, 0] + box_level0) / dx, (coords[:, 1] + box_level0) / dy
    area = (
        _area_below(table, x1, y1)
        - _area_below(table, x0, y1)
        - _area_below(table, x1, y0)
        + _area_below(table, x0, y0)
    )
    return np.clip(area / ((x1 - x0) * (y1 - y0)), 0.0, 1.0)


def grid_coords(width: int, height: int, box_level0: int, step_level0: int) -> np.ndarray:
    """Top-left corners of every whole tile, row-major (y outer, x inner)."""
    xs = np.arange(0, width - box_level0 + 1, step_level0, dtype=np.int64)
    ys = np.arange(0, height - box_level0 + 1, step_level0, dtype=np.int64)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)
