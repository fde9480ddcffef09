"""`pathsearch segment SLIDE --region X,Y,W,H`: a region of any size, read and segmented block by block.

Each block is read with a margin of whole strides at least one patch (and the pixel forest's filter
reach) wide, so every window over the block's core is whole and sits on the region's own stride grid;
only the core is kept. The forest's Lab z-scores come from one overview of the region, so blocks
agree. Memory: one padded block of working data plus 2 bytes per region pixel (the two likeliest
classes, from which small regions are merged over the whole region at the end), kept in memory-mapped
files beside the outputs so a killed run resumes at its first unfinished block."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from pathsearch.heads.pixels import LabStats
from pathsearch.heads.segment import top_two
from pathsearch.io.atomic import write_json
from pathsearch.slide.base import Slide
from pathsearch.slide.tiling import read_box

BLOCK_PX = 1024  # core side in region px; about 0.6 GB of working data with he-texture and the forest
OVERVIEW_PX = 2048  # long side of the overview read for the forest's colour statistics and the overlay

BlockProbs = Callable[[np.ndarray, LabStats | None], np.ndarray]


@dataclass(frozen=True)
class RegionGrid:
    """A region's blocks, in px at the output downsample."""

    width: int
    height: int
    block_px: int
    margin_px: int

    @classmethod
    def plan(cls, width: int, height: int, stride_px: int, reach_px: int, block_px: int = BLOCK_PX) -> RegionGrid:
        """Block and margin are whole strides, so each block's patch grid is the region's."""
        margin = math.ceil(reach_px / stride_px) * stride_px
        return cls(width, height, max(1, block_px // stride_px) * stride_px, margin)

    def cores(self) -> Iterator[tuple[int, int, int, int]]:
        for y0 in range(0, self.height, self.block_px):
            for x0 in range(0, self.width, self.block_px):
                yield x0, y0, min(x0 + self.block_px, self.width), min(y0 + self.block_px, self.height)

    def padded(self, core: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        x0, y0, x1, y1 = core
        m = self.margin_px
        return max(x0 - m, 0), max(y0 - m, 0), min(x1 + m, self.width), min(y1 + m, self.height)

    def __len__(self) -> int:
        return math.ceil(self.width / self.block_px) * math.ceil(self.height / self.block_px)


def read_region_box(slide: Slide, box_level0: tuple[int, int, int, int], downsample: float, px_box: tuple[int, int, int, int]) -> np.ndarray:
    """Region px [x0, x1) x [y0, y1) of the region, exactly that many px."""
    x0, y0, x1, y1 = px_box
    bx, by, bw, bh = box_level0
    left, top = bx + round(x0 * downsample), by + round(y0 * downsample)
    right, bottom = min(bx + round(x1 * downsample), bx + bw), min(by + round(y1 * downsample), by + bh)
    image = read_box(slide, (left, top, right - left, bottom - top), downsample)
    if image.shape[:2] != (y1 - y0, x1 - x0):  # level-0 rounding at a fractional downsample
        image = cv2.resize(image, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return image


def overview(slide: Slide, box_level0: tuple[int, int, int, int], downsample: float) -> np.ndarray:
    _, _, w, h = box_level0
    return read_box(slide, box_level0, max(downsample, max(w, h) / OVERVIEW_PX))


@dataclass(frozen=True)
class BlockCheckpoint:
    """The two likeliest classes of every finished block, on disk. `key` names the run (parameters and
    input fingerprints); a checkpoint left by any other run is discarded, not resumed."""

    folder: Path
    best: np.ndarray  # (H, W) uint8 memory maps
    second: np.ndarray
    done: set[int]
    key: str

    @classmethod
    def open(cls, folder: Path, key: str, shape: tuple[int, int]) -> BlockCheckpoint:
        try:
            state = json.loads((folder / "done.json").read_text())
            if state["key"] == key:
                best, second = (np.lib.format.open_memmap(folder / f"{n}.npy", mode="r+") for n in ("best", "second"))
                if best.shape == second.shape == shape:
                    return cls(folder, best, second, set(state["done"]), key)
        except (OSError, ValueError, KeyError):
            pass
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        best, second = (np.lib.format.open_memmap(folder / f"{n}.npy", mode="w+", dtype=np.uint8, shape=shape) for n in ("best", "second"))
        checkpoint = cls(folder, best, second, set(), key)
        checkpoint.mark_done(None)
        return checkpoint

    def mark_done(self, block: int | None) -> None:
        """The block's pixels reach the disk before it is listed, so a crash in between only redoes it."""
        if block is not None:
            self.best.flush()
            self.second.flush()
            self.done.add(block)
        write_json(self.folder / "done.json", {"key": self.key, "done": sorted(self.done)})

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def top_two_by_block(
    slide: Slide, box_level0: tuple[int, int, int, int], downsample: float, grid: RegionGrid, block_probs: BlockProbs,
    stats: LabStats | None, checkpoint: BlockCheckpoint, on_block: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) uint8 likeliest and next-likeliest class over the whole region; blocks the checkpoint
    already holds are not computed again."""
    for index, core in enumerate(grid.cores()):
        if index not in checkpoint.done:
            padded = grid.padded(core)
            probs = block_probs(read_region_box(slide, box_level0, downsample, padded), stats)
            x0, y0, x1, y1 = core
            inner = probs[y0 - padded[1] : y1 - padded[1], x0 - padded[0] : x1 - padded[0]]
            checkpoint.best[y0:y1, x0:x1], checkpoint.second[y0:y1, x0:x1] = top_two(inner)
            checkpoint.mark_done(index)
        if on_block is not None:
            on_block(index + 1, len(grid))
    return checkpoint.best, checkpoint.second
