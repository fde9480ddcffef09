"""Tiling throughput against floors measured in the same run on the same machine.

Floors: coords-only vs reading the thumbnail that tiling needs anyway; tile export vs the
thumbnail plus read_region + resize of exactly the same tiles. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import h5py

from pathsearch.api.tile import _QC_LONG_SIDE_PX, tile_slide
from pathsearch.config import TileConfig
from pathsearch.sample_data import sample_slide
from pathsearch.slide.open import open_slide
from pathsearch.slide.tiling import read_tile

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_wsi import write_synthetic_wsi  # noqa: E402


def _timed(fn: object) -> float:
    t0 = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - t0


def thumbnail_floor(path: Path, mask_mpp: float = 8.0) -> float:
    with open_slide(path) as slide:
        ds = max(1.0, min(mask_mpp / slide.require_mpp(), max(slide.dimensions) / _QC_LONG_SIDE_PX))
        return _timed(lambda: slide.thumbnail(ds))


def read_floor(path: Path, tiles_h5: Path) -> float:
    with h5py.File(tiles_h5) as f:
        coords = f["coords"][:]
        level, read_size, size = (
            int(f["coords"].attrs[k]) for k in ("read_level", "read_size", "patch_size")
        )
    with open_slide(path) as slide:

        def run() -> None:
            for x, y in coords:
                read_tile(slide, (int(x), int(y)), level, read_size, size)

        return _timed(run)


def bench(path: Path, out: Path, reps: int) -> list[str]:
    rows = []
    coords_t, floor_t = [], []
    for _ in range(reps):
        shutil.rmtree(out, ignore_errors=True)
        floor_t.append(thumbnail_floor(path))
        coords_t.append(_timed(lambda: tile_slide(path, TileConfig(), out)))
    tiles_h5 = out / path.stem / "tiles.h5"
    with h5py.File(tiles_h5) as h5:
        n_tiles = len(h5["coords"])
    c, f = statistics.median(coords_t), statistics.median(floor_t)
    rows.append(
        f"| {path.name} | coords only | {n_tiles} | {n_tiles / c:,.0f} | {c:.2f} | {f:.2f} | {c / f:.2f}x |"
    )
    export_t, floor_t = [], []
    for _ in range(max(1, reps // 2)):
        floor_t.append(thumbnail_floor(path) + read_floor(path, tiles_h5))
        shutil.rmtree(out, ignore_errors=True)
        export_t.append(_timed(lambda: tile_slide(path, TileConfig(save_tiles="png"), out)))
    e, f = statistics.median(export_t), statistics.median(floor_t)
    rows.append(
        f"| {path.name} | --save-tiles png | {n_tiles} | {n_tiles / e:,.0f} | {e:.2f} | {f:.2f} | {e / f:.2f}x |"
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("bench_out"))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    slides = [sample_slide()]
    if not args.skip_large:
        t = time.perf_counter()
        slides.append(write_synthetic_wsi(args.work / "synthetic-40k.tiff"))
        print(f"synthetic 40000x30000 pyramid ready in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    print("| slide | job | tiles | tiles/s | job s | floor s | job / floor |")
    print("|---|---|---|---|---|---|---|")
    for slide in slides:
        for row in bench(slide, args.work / "out", args.reps):
            print(row, flush=True)


if __name__ == "__main__":
    main()
