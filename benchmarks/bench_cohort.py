"""Cohort throughput: slides per minute for `tile` and `embed`, in-process against Dask with 1 and 2 workers.

The baseline is the serial in-process run of the same cohort in the same run. Dask times include starting
the local cluster (what `--workers N` costs a user); the 1-worker cluster is started the same way and
passed as a scheduler, since `--workers 1` runs in-process. Embedding in-process is timed with 0 and 2 DataLoader
workers (the CLI default is 2, which already keeps two cores busy on one slide).
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pathsearch.api.embed import EmbedSettings, embed_cohort
from pathsearch.api.tile import tile_slides
from pathsearch.cohort.runner import Cluster, dask_client
from pathsearch.config import TileConfig

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_wsi import write_synthetic_wsi  # noqa: E402


def _cohort(folder: Path, slides: int, width0: int, height0: int) -> list[Path]:
    template = write_synthetic_wsi(folder / "template.tiff", width0, height0)
    paths = []
    for i in range(slides):
        path = folder / f"slide{i:02d}.tiff"
        if not path.exists():
            shutil.copyfile(template, path)
        paths.append(path)
    return paths


def _timed(job: Callable[[Path, str | None, int], list], out: Path, mode: str) -> float:
    """Seconds for one run of `job` into a fresh folder; every item must succeed."""
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    if mode == "dask-1":  # `--workers 1` runs in-process: a 1-worker cluster has to be passed as a scheduler
        with dask_client(Cluster(workers=1)) as client:
            results = job(out, client.scheduler.address, 1)
    else:
        results = job(out, None, 2 if mode == "dask-2" else 1)
    seconds = time.perf_counter() - t0
    failed = [r.error for r in results if r.status != "done"]
    assert not failed, failed
    return seconds


def _start_cost(workers: int) -> float:
    """What a Dask run pays before its first slide: start the cluster, import pathsearch and torch in
    every worker, and shut it down again."""
    t0 = time.perf_counter()
    with dask_client(Cluster(workers=workers)) as client:
        client.run(importlib.import_module, "pathsearch.api.embed")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slides", type=int, default=8)
    parser.add_argument("--width0", type=int, default=12_000)
    parser.add_argument("--height0", type=int, default=9_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("bench_out/cohort"))
    args = parser.parse_args()
    slides = _cohort(args.work / "slides", args.slides, args.width0, args.height0)
    tile_config = TileConfig(save_tiles="png")
    # Embedding reads 1 um/px tiles of a fresh coords-only tiling: a few dozen tiles per slide.
    coarse = args.work / "coarse"
    if not coarse.exists():
        tile_slides(slides, TileConfig(target_mpp=1.0), coarse)
    tile_sets = [coarse / p.stem for p in slides]

    def tile(out: Path, scheduler: str | None, workers: int) -> list:
        return tile_slides(slides, tile_config, out, workers=workers, scheduler=scheduler)

    def embed(loader_workers: int) -> Callable[[Path, str | None, int], list]:
        settings = EmbedSettings(loader_workers=loader_workers)
        return lambda out, scheduler, workers: embed_cohort(tile_sets, out, settings, workers, scheduler)

    jobs = [
        ("tile --save-tiles png", tile, ["serial", "dask-1", "dask-2"]),
        ("embed he-texture, 0 loader workers", embed(0), ["serial", "dask-1", "dask-2"]),
        ("embed he-texture, 2 loader workers", embed(2), ["serial"]),
    ]
    print(f"{args.slides} slides of {args.width0}x{args.height0} px at 0.25 um/px; median of {args.runs} runs")
    start = {"serial": 0.0, **{f"dask-{n}": statistics.median(_start_cost(n) for _ in range(args.runs)) for n in (1, 2)}}
    print("start cost (cluster up, pathsearch imported in each worker, cluster down): "
          + ", ".join(f"{mode} {s:.1f} s" for mode, s in start.items() if s))  # fmt: skip
    print("| job | mode | s | slides/min | / serial | / serial, start cost excluded |")
    print("|---|---|---|---|---|---|")
    serial_s = None
    for name, job, modes in jobs:
        for mode in modes:
            seconds = statistics.median(_timed(job, args.work / "out", mode) for _ in range(args.runs))
            if mode == "serial" and name.startswith(("tile", "embed he-texture, 0")):
                serial_s = seconds
            steady = serial_s / (seconds - start[mode])
            print(
                f"| {name} | {mode} | {seconds:.1f} | {60 * args.slides / seconds:.1f} | {serial_s / seconds:.2f}x | {steady:.2f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
