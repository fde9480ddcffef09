"""Embedding throughput on CPU: end-to-end (slide read + preprocess + forward) against the pure
model forward on the same tiles already decoded in memory, both measured in this run."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import open_clip
import torch

from pathsearch.api.embed import embed_tiles
from pathsearch.api.tile import tile_slide
from pathsearch.config import TileConfig
from pathsearch.encoders.base import Encoder
from pathsearch.encoders.registry import build_encoder
from pathsearch.io.tile_sources import open_tile_source
from pathsearch.sample_data import sample_slide


def forward_only(encoder: Encoder, tiles: list[np.ndarray], batch_size: int) -> float:
    """Model work alone, on preprocessed batches: he-texture's model is its descriptor, in `_forward`."""
    batches = [
        torch.stack([encoder.preprocess(t) for t in tiles[i : i + batch_size]])
        for i in range(0, len(tiles), batch_size)
    ]
    t0 = time.perf_counter()
    for batch in batches:
        encoder.encode_images(batch)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiles", type=int, default=43)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3, help="alternating forward-only runs per encoder (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:  # the random ViT-B-16 checkpoint alone is ~570 MB
        work = Path(tmp)
        tileset = tile_slide(sample_slide(), TileConfig(), work).out_dir
        source = open_tile_source(tileset)
        source.coords = source.coords[: args.tiles]
        decoded = [source[i] for i in range(len(source))]
        model, _, _ = open_clip.create_model_and_transforms("ViT-B-16", pretrained=None)
        torch.save({"state_dict": model.state_dict()}, work / "random-vit-b-16.pt")
        encoders = [build_encoder("he-texture"), build_encoder("pathgen-clip", work / "random-vit-b-16.pt")]
        print(
            f"torch threads {torch.get_num_threads()}, {len(source)} tiles from {tileset.name}, workers {args.workers}"
        )
        print("| encoder | tiles | end-to-end tiles/s | forward-only tiles/s | end-to-end / forward |")
        print("|---|---|---|---|---|")
        for encoder in encoders:
            embed_tiles(source, encoder, args.batch_size, workers=0)  # warm-up
        runs: dict[str, list[float]] = {e.name: [] for e in encoders}
        for _ in range(args.reps):  # alternating, so a noisy spell hits both encoders alike
            for encoder in encoders:
                runs[encoder.name].append(forward_only(encoder, decoded, args.batch_size))
        forward_s = {name: statistics.median(ts) for name, ts in runs.items()}
        for encoder in encoders:
            f = forward_s[encoder.name]
            t0 = time.perf_counter()
            embed_tiles(source, encoder, args.batch_size, workers=args.workers)
            e = time.perf_counter() - t0
            n = len(source)
            print(f"| {encoder.name} | {n} | {n / e:.1f} | {n / f:.1f} | {e / f:.2f}x |", flush=True)
        ratios = [vit / tex for tex, vit in zip(runs["he-texture"], runs["pathgen-clip"], strict=True)]
        print(
            f"he-texture forward throughput / ViT-B/16's: {forward_s['pathgen-clip'] / forward_s['he-texture']:.1f}x "
            f"(medians of {args.reps}; per run {', '.join(f'{r:.1f}x' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
