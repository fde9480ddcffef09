"""Tiles read a block at a time, then sliced: the same pixels as one `read_region` per tile.

Per tile, OpenSlide paints and converts each tile on its own. A block of the read level, decoded straight
into one array (`Slide.read_block`: tifffile for SVS and generic TIFFs, where it gives OpenSlide's
pixels), reads a 40,000x30,000 SVS's tissue tiles 2.6x faster on one thread (BENCHMARKS.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pathsearch.slide.base import Slide
from pathsearch.slide.tiling import read_tile, resized

BLOCK_PX = 2048  # side of a block at the read level: at most ~13 MiB of RGB per block read
MIN_COVER = 1 / 3  # a block read decodes at most 3x the tiles' own pixels, else tiles are read one by one


@dataclass(frozen=True)
class TileReads:
    """How a tile set's tiles come off the slide: `groups` of tile indices, each read as one region
    (`boxes`, level-0 x, y and read-level w, h) or, where a box is None, one `read_region` per tile."""

    coords: np.ndarray  # (n, 2) level-0 top-left corners
    level: int
    read_size: int
    patch_size: int
    groups: list[np.ndarray]
    boxes: list[tuple[int, int, int, int] | None]


def plan_reads(
    slide: Slide, coords: np.ndarray, level: int, read_size: int, patch_size: int, block_px: int = BLOCK_PX
) -> TileReads:
    """Group level-0 `coords` by the block of the read level each tile starts in (blocks in raster order).

    Only where level-0 coordinates land on whole pixels of the read level (always at level 0) do block
    and tile reads give the same pixels; elsewhere every tile stays its own read."""
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    level_ds = slide.level_downsamples[level]
    ds = round(level_ds)
    if ds != level_ds or not np.all(coords % ds == 0):
        singles = [np.array([i]) for i in range(len(coords))]
        return TileReads(coords, level, read_size, patch_size, singles, [None] * len(coords))
    px = coords // ds
    key = (px[:, 1] // block_px) * (int(px[:, 0].max(initial=0)) // block_px + 1) + px[:, 0] // block_px
    order = np.lexsort((px[:, 0], px[:, 1], key))
    groups = np.split(order, np.flatnonzero(np.diff(key[order])) + 1) if len(order) else []
    boxes = [_box(px[g], ds, read_size) for g in groups]
    return TileReads(coords, level, read_size, patch_size, groups, boxes)


def _box(px: np.ndarray, ds: int, read_size: int) -> tuple[int, int, int, int] | None:
    x0, y0 = px.min(axis=0)
    w, h = px.max(axis=0) - (x0, y0) + read_size
    if len(px) * read_size**2 < MIN_COVER * w * h:
        return None
    return int(x0) * ds, int(y0) * ds, int(w), int(h)


def read_group(slide: Slide, reads: TileReads, g: int) -> Iterator[tuple[int, np.ndarray]]:
    """(tile index, RGB tile at patch_size) for every tile of group g."""
    box = reads.boxes[g]
    coords, out_wh, size = reads.coords, (reads.patch_size, reads.patch_size), reads.read_size
    if box is None:
        for i in reads.groups[g]:
            yield int(i), read_tile(slide, (int(coords[i][0]), int(coords[i][1])), reads.level, size, reads.patch_size)
        return
    region = slide.read_block(box[:2], reads.level, box[2:])
    ds = round(slide.level_downsamples[reads.level])
    for i in reads.groups[g]:
        dx, dy = (int(coords[i][0]) - box[0]) // ds, (int(coords[i][1]) - box[1]) // ds
        yield int(i), resized(region[dy : dy + size, dx : dx + size], out_wh)
