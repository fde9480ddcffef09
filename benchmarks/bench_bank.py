"""`pathsearch bank build` at cohort scale: peak memory and search latency of a 1,000,000-tile bank.

The inputs are 20 features.h5 files of 50,000 clustered 512-d vectors (a cohort of 20 slides). Each build
runs in its own process, so its peak RSS is its own. Floors, measured in the same run:
- memory: the index's own bytes (what any bank must hold to search) and the old path, which reads every
  embedding into memory and builds the bank there (`ReferenceBank.build`, as `search --bank X.h5` does);
- latency: exact flat search over the same vectors; recall@10 is against that exact search.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np

CONFIGS = {
    "flat, no PCA": {"index": "flat"},
    "flat, PCA 64": {"index": "flat", "pca_dim": 64},
    "ivf, PCA 64": {"index": "ivf", "pca_dim": 64},
    "ivfpq, PCA 64": {"index": "ivfpq", "pca_dim": 64},
    "hnsw, PCA 64": {"index": "hnsw", "pca_dim": 64},
}


def write_cohort(folder: Path, files: int, rows: int, dim: int) -> list[Path]:
    """Clustered vectors (200 tissue 'types' shared across slides), written as `pathsearch embed` does."""
    from pathsearch.io.features_h5 import write_features_h5

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(200, dim)).astype(np.float32)
    paths = []
    for i in range(files):
        path = folder / f"slide{i:02d}" / "features.h5"
        paths.append(path)
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        feats = centres[rng.integers(0, len(centres), rows)] + 0.7 * rng.normal(size=(rows, dim)).astype(np.float32)
        xy = np.stack([np.arange(rows) % 300 * 224, np.arange(rows) // 300 * 224], axis=1)
        attrs = {"encoder": "synthetic", "dim": dim, "source": f"/tiles/slide{i:02d}", "slide": f"/slides/slide{i:02d}.svs"}
        write_features_h5(path, feats, attrs, coords=xy, coords_attrs={"patch_size_level0": 224, "level0_mpp": 0.5})
    return paths


def working_set_bytes(config: dict[str, object], input_dim: int) -> int:
    """The stated bound on what a build holds besides its index: independent of the cohort's size."""
    from pathsearch.bank.build import SHARD_ROWS, TRAIN_ROWS

    row = input_dim * 4
    trains = config.get("pca_dim") is not None or config["index"] in ("ivf", "ivfpq")
    # The training sample and its projection; a shard as read, as float32, and projected.
    return (2 * TRAIN_ROWS * row if trains else 0) + 3 * SHARD_ROWS * row


def _queries(paths: list[Path], n: int) -> np.ndarray:
    with h5py.File(paths[len(paths) // 2], "r") as f:
        return f["features"][:n].astype(np.float32)


def child(mode: str, name: str, work: Path, paths: list[Path], nq: int) -> dict[str, float]:
    """One build (or the old in-memory build) in this process; peak RSS and search figures."""
    from pathsearch.bank.bank import BankConfig, ReferenceBank
    from pathsearch.bank.build import build_bank

    base_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    config = BankConfig(**CONFIGS[name])
    t0 = time.perf_counter()
    if mode == "old":
        feats = np.concatenate([h5py.File(p, "r")["features"][()] for p in paths])
        bank = ReferenceBank.build(feats, [str(i) for i in range(len(feats))], config=config)
    else:
        folder = work / "banks" / name.replace(" ", "").replace(",", "-")
        build_bank(paths, folder, config)
    build_s = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"build_s": build_s, "base_mib": base_kib / 1024, "peak_mib": peak_kib / 1024}
    if mode == "old":
        return result
    bank = ReferenceBank.load(folder)
    result["index_mib"] = _index_bytes(bank) / 2**20
    result["disk_mib"] = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    queries = bank.project(_queries(paths, nq))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        _, hits = bank.search(queries, 10)
        times.append(time.perf_counter() - t0)
    result["ms_per_query"] = 1000 * statistics.median(times) / nq
    np.save(work / f"hits-{mode}-{name.replace(' ', '').replace(',', '-')}.npy", hits)
    return result


def _index_bytes(bank: object) -> int:
    import faiss

    return len(faiss.serialize_index(bank.index))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=Path("bench_out/bank"))
    parser.add_argument("--child", nargs=2, metavar=("MODE", "NAME"))
    args = parser.parse_args()
    paths = write_cohort(args.work / "features", args.files, args.rows, args.dim)
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.work, paths, args.queries)))
        return
    n = args.files * args.rows
    print(f"{n:,} vectors of {args.dim}-d in {args.files} features.h5; {args.queries} queries, k=10")

    def run(mode: str, name: str) -> dict[str, float]:
        cmd = [sys.executable, __file__, "--files", str(args.files), "--rows", str(args.rows), "--dim", str(args.dim),
               "--queries", str(args.queries), "--work", str(args.work), "--child", mode, name]  # fmt: skip
        return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)

    old = run("old", "flat, no PCA")
    print(f"old in-memory build (flat, no PCA): peak {old['peak_mib']:.0f} MiB, {old['build_s']:.1f} s")
    print("| bank | build s | peak RSS MiB | start MiB | index held MiB | working set MiB | bound MiB | peak / old | ms per query | / flat | recall@10 |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    exact = None
    flat_ms = None
    for name in CONFIGS:
        r = run("new", name)
        hits = np.load(args.work / f"hits-new-{name.replace(' ', '').replace(',', '-')}.npy")
        if name == "flat, PCA 64":
            exact, flat_ms = hits, r["ms_per_query"]
        recall = "" if exact is None else f"{np.mean([len(set(a) & set(e)) / 10 for a, e in zip(hits, exact, strict=True)]):.3f}"
        vs_flat = "" if flat_ms is None else f"{r['ms_per_query'] / flat_ms:.2f}x"
        # A flat bank holds no index while it builds: its vectors go straight to disk.
        held = 0 if CONFIGS[name]["index"] == "flat" else r["index_mib"]
        working = r["peak_mib"] - r["base_mib"] - held
        bound = working_set_bytes(CONFIGS[name], args.dim) / 2**20
        print(
            f"| {name} | {r['build_s']:.1f} | {r['peak_mib']:.0f} | {r['base_mib']:.0f} | {held:.0f} | {working:.0f} "
            f"| {bound:.0f} | {r['peak_mib'] / old['peak_mib']:.2f}x | {r['ms_per_query']:.3f} | {vs_flat} | {recall} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
