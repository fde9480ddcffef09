"""Reading every tissue tile of a 40,000x30,000 px SVS, against anchors measured in the same run.

Anchors: OpenSlide's `read_region` once per tile on one thread (the floor), and lazyslide's tile
iterator (`wsi.iter.tile_images`) where lazyslide is installed. The tiles are lazyslide's own tissue
tiles when it is there (224 px at the scan's 0.25 um/px), else pathsearch's; every reader reads the
same list. pathsearch reads through `SlideTiles.read_unit` (block reads, `slide.supertiles`), the embed
data path, on one thread and on a pool of threads as `tile --save-tiles` does. Rounds alternate the
readers; medians. Prints a Markdown table of throughput as a multiple of the floor.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import openslide

from pathsearch.api.tile import tile_slide
from pathsearch.config import TileConfig
from pathsearch.io.tile_sources import open_tile_source

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_wsi import write_synthetic_wsi  # noqa: E402

TILE_PX = 224


def lazyslide_tiles(path: Path) -> tuple[np.ndarray, Callable[[], int]] | None:
    """(level-0 corners of lazyslide's tissue tiles, a function reading them all), or None."""
    try:
        import lazyslide as zs
        from wsidata import open_wsi
    except ImportError:
        return None
    wsi = open_wsi(path, store=Path(tempfile.mkdtemp()) / "wsi.zarr")
    zs.pp.find_tissues(wsi)
    zs.pp.tile_tissues(wsi, TILE_PX, mpp=0.25, key_added="tiles")
    bounds = np.asarray(wsi["tiles"].geometry.bounds)[:, :2].astype(np.int64)

    def read_all() -> int:
        return sum(1 for _ in wsi.iter.tile_images("tiles"))

    return bounds, read_all


def openslide_floor(path: Path, coords: np.ndarray) -> Callable[[], int]:
    slide = openslide.OpenSlide(str(path))

    def read_all() -> int:
        for x, y in coords:
            np.asarray(slide.read_region((int(x), int(y)), 0, (TILE_PX, TILE_PX)))
        return len(coords)

    return read_all


def pathsearch_reader(tiles_dir: Path, threads: int) -> Callable[[], int]:
    source = open_tile_source(tiles_dir)

    def read_all() -> int:
        units = range(source.read_units())
        if threads == 1:
            return sum(len(source.read_unit(u)) for u in units)
        with ThreadPoolExecutor(threads) as pool:
            return sum(len(tiles) for tiles in pool.map(source.read_unit, units))

    return read_all


def tile_set(path: Path, coords: np.ndarray | None, work: Path) -> Path:
    """pathsearch's tile set of the slide at 0.25 um/px, its coords replaced by `coords` when given."""
    import h5py

    result = tile_slide(path, TileConfig(target_mpp=0.25, tile_size=TILE_PX), work)
    tiles_h5 = result.out_dir / "tiles.h5"
    if coords is not None:
        with h5py.File(tiles_h5, "r+") as f:
            attrs = dict(f["coords"].attrs)
            del f["coords"]
            f["coords"] = coords
            f["coords"].attrs.update(attrs)
    return result.out_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("bench_out"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    svs = write_synthetic_wsi(args.work / "synthetic-40k.svs", aperio=True)
    lazy = lazyslide_tiles(svs)
    tiles_dir = tile_set(svs, lazy[0] if lazy else None, args.work / "read")
    n_tiles = len(open_tile_source(tiles_dir))
    threads = os.cpu_count() or 1
    readers: dict[str, Callable[[], int]] = {"OpenSlide read_region per tile, 1 thread (floor)": openslide_floor(svs, open_tile_source(tiles_dir).coords)}
    if lazy:
        readers["lazyslide tile_images"] = lazy[1]
    readers["pathsearch block reads, 1 thread"] = pathsearch_reader(tiles_dir, 1)
    readers[f"pathsearch block reads, {threads} threads"] = pathsearch_reader(tiles_dir, threads)
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(args.rounds):
        for name, read_all in readers.items():
            t0 = time.perf_counter()
            assert read_all() == n_tiles, name
            times[name].append(time.perf_counter() - t0)
    floor = statistics.median(next(iter(times.values())))
    print(f"{n_tiles} tiles of {TILE_PX} px, {args.rounds} alternating rounds, medians; lazyslide "
          f"{'installed' if lazy else 'not installed: no anchor row'}")
    print("| reader | s | tiles/s | throughput / floor |")
    print("|---|---|---|---|")
    for name, ts in times.items():
        s = statistics.median(ts)
        print(f"| {name} | {s:.2f} | {n_tiles / s:,.0f} | {floor / s:.2f}x |")


if __name__ == "__main__":
    main()
