"""Few-shot segmentation cost, as ratios to a floor measured in the same run.

Per GlaS image (775x522): the floor is embedding its non-overlapping 96-px patches once with he-texture.
Against it: the stride-32 patch grid embedded crop by crop (the old path), the dense path (each pixel
once), and a whole query image segmented (patch features, probe votes, pixel forest, class map).
Then `pathsearch segment SLIDE --region` on squares of a synthetic 40k slide, each in its own process:
seconds and peak memory per megapixel, against the smallest square.

    python benchmarks/bench_segment.py [--reps 5] [--region-px 2000 4000 8000]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from synthetic_wsi import write_synthetic_wsi  # noqa: E402
from timing import median_s  # noqa: E402

from pathsearch.api.embed import embed_tiles  # noqa: E402
from pathsearch.api.segment import _support  # noqa: E402
from pathsearch.encoders.registry import build_encoder  # noqa: E402
from pathsearch.heads.classify import fit_few_shot  # noqa: E402
from pathsearch.heads.pixels import fit_pixel_forest  # noqa: E402
from pathsearch.heads.segment import (  # noqa: E402
    SegmentConfig,
    class_indices,
    class_map,
    crops,
    patch_features,
    patch_grid,
    segment_probabilities,
    support_features,
)
from pathsearch.io.tile_sources import read_rgb  # noqa: E402

SUPPORT = ("glas_testA_25", "glas_testA_30", "glas_testB_3")


def _support_folder(glas: Path, work: Path) -> Path:
    folder = work / "support"
    folder.mkdir(parents=True, exist_ok=True)
    for path in glas.iterdir():
        if path.name.split(" [")[0] in SUPPORT:
            shutil.copy2(path, folder / path.name)
    return folder


def per_image(glas: Path, support: Path, reps: int) -> None:
    encoder = build_encoder("he-texture")
    config = SegmentConfig()
    query = read_rgb(next(p for p in sorted(glas.glob("glas_testA_26*.png")) if "-labelled" not in p.name))
    images, masks, _ = _support(support, "-labelled")
    values = sorted({int(v) for m in masks for v in np.unique(m)})
    feats, labels = support_features(images, masks, values, encoder, config)
    forest = fit_pixel_forest(images, [class_indices(m, values) for m in masks], len(values), config.pixel_forest)
    p = config.patch_px
    tiles = patch_grid(*query.shape[:2], p, p)
    grid = patch_grid(*query.shape[:2], p, config.stride_px)

    def whole(samples: int) -> Callable[[], object]:
        clf = fit_few_shot(feats, labels, config.few_shot.model_copy(update={"samples": samples}))
        return lambda: class_map(segment_probabilities(query, clf, encoder, config, forest), config.min_region_px)

    jobs = {
        f"floor: {len(tiles)} non-overlapping {p}-px patches embedded": lambda: embed_tiles(crops(query, tiles, p), encoder),
        f"old: {len(grid)} stride-{config.stride_px} patches embedded crop by crop": lambda: embed_tiles(crops(query, grid, p), encoder),
        f"dense: the same {len(grid)} windows, each pixel once": lambda: patch_features(query, grid, encoder, p),
        "segment one image, N=0 (features, probe, forest, class map)": whole(0),
        "segment one image, N=10 (the CLI default)": whole(10),
    }
    for fn in jobs.values():
        fn()  # warm-up: compiled kernels, caches
    times = {name: [] for name in jobs}
    for _ in range(reps):  # interleaved, so a noisy spell hits every job alike
        for name, fn in jobs.items():
            times[name].append(median_s(fn, 1))
    floor = statistics.median(next(iter(times.values())))
    print(f"\nGlaS glas_testA_26 ({query.shape[1]}x{query.shape[0]} px), medians of {reps} interleaved runs")
    print("| job | s | / floor |\n|---|---|---|")
    for name, ts in times.items():
        print(f"| {name} | {statistics.median(ts):.2f} | {statistics.median(ts) / floor:.2f}x |", flush=True)


def region(support: Path, work: Path, sides_px: list[int]) -> None:
    slide = write_synthetic_wsi(work / "synthetic-40k.tiff")
    rows = []
    for side in sides_px:
        out = work / f"region-{side}"
        args = [sys.executable, "-m", "pathsearch.cli.main", "segment", str(slide), "--few-shot", str(support), "-o", str(out),
                "--samples", "0", "--region", f"10000,8000,{side},{side}", "--region-downsample", "1"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        t0 = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if proc.returncode:
            sys.exit(proc.stderr)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if peak_mib <= before / 1024:
            print(f"warning: peak RSS of the {side} px run is hidden by an earlier, larger run", file=sys.stderr)
        rows.append((side, seconds, peak_mib))
    base_mp = rows[0][0] ** 2 / 1e6
    print("\n`pathsearch segment --region` (he-texture, N=0, forest), one process each")
    print("| region px | megapixels | s | s per MP (vs smallest) | peak RSS MiB | MiB per MP |\n|---|---|---|---|---|---|")
    for side, seconds, peak in rows:
        mp = side**2 / 1e6
        rel = (seconds / mp) / (rows[0][1] / base_mp)
        print(f"| {side}x{side} | {mp:.1f} | {seconds:.0f} | {seconds / mp:.1f} ({rel:.2f}x) | {peak:.0f} | {peak / mp:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--region-px", type=int, nargs="*", default=[2000, 4000, 8000])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "pathsearch-bench")
    args = parser.parse_args()
    glas = Path(os.environ.get("PATHSEARCH_TEST_DATA", "../shared/data")) / "segmentation" / "glas-dev"
    if not glas.is_dir():
        sys.exit(f"error: {glas} not found; set PATHSEARCH_TEST_DATA to the shared data folder")
    with tempfile.TemporaryDirectory() as tmp:
        support = _support_folder(glas, Path(tmp))
        per_image(glas, support, args.reps)
        if args.region_px:
            region(support, args.work, sorted(args.region_px))


if __name__ == "__main__":
    main()
