"""Few-shot tile classification over random support draws: plain k-NN against STHLM on the same draws.

Defaults reproduce the CRC figure in BENCHMARKS.md:
    python pipelines/fewshot_draws.py ../shared/data/tiles/crc-he
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pathsearch.api.embed import embed_tiles
from pathsearch.encoders.registry import build_encoder
from pathsearch.heads.augment import augmented_views
from pathsearch.heads.classify import FewShotConfig, Head, fit_few_shot
from pathsearch.io.tile_sources import folder_tiles


def draw_accuracies(
    folder: Path,
    shots: int,
    draws: int,
    samples: tuple[int, ...],
    model: str = "he-texture",
    head: Head = "knn",
    first_draw: int = 0,
) -> dict[int, list[float]]:
    """Per draw: `shots` support tiles per class, the rest queried; one accuracy per sample count.

    Draws 0-15 chose the defaults (BENCHMARKS.md): score them on `first_draw` 16 onwards."""
    tiles = folder_tiles(folder)
    encoder = build_encoder(model)
    images = [tiles[i] for i in range(len(tiles))]
    feats = embed_tiles(images, encoder)
    labels = np.array(tiles.labels)
    config = FewShotConfig(head=head)
    accs: dict[int, list[float]] = {n: [] for n in samples}
    for draw in range(first_draw, first_draw + draws):
        rng = np.random.default_rng(draw)
        support = np.concatenate([rng.choice(np.where(labels == c)[0], shots, replace=False) for c in sorted(set(labels))])
        query = np.setdiff1d(np.arange(len(labels)), support)
        views, origin = augmented_views([images[i] for i in support], config.views_per_tile, draw)
        view_feats = embed_tiles(views, encoder)
        for n in samples:
            draw_config = config.model_copy(update={"samples": n, "seed": draw})
            clf = fit_few_shot(feats[support], list(labels[support]), draw_config, view_feats, origin)
            predicted = np.array(clf.classes)[clf.predict_proba(feats[query]).argmax(1)]
            accs[n].append(float((predicted == labels[query]).mean()))
    return accs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path, help="class-subfolder tile folder")
    parser.add_argument("--shots", type=int, default=2)
    parser.add_argument("--draws", type=int, default=8)
    parser.add_argument("--first-draw", type=int, default=0, help="seed of the first draw")
    parser.add_argument("--samples", type=int, nargs="+", default=[0, FewShotConfig().samples])
    parser.add_argument("--model", default="he-texture")
    parser.add_argument("--head", choices=["knn", "linear"], default="knn")
    args = parser.parse_args()
    accs = draw_accuracies(args.folder, args.shots, args.draws, tuple(args.samples), args.model, args.head, args.first_draw)
    plain = np.array(accs[args.samples[0]])
    for n, values in accs.items():
        v = np.array(values)
        against = f", against N={args.samples[0]}: ahead {np.sum(v > plain)}, behind {np.sum(v < plain)}" if n != args.samples[0] else ""
        print(f"N={n}: mean {v.mean():.3f}, median {np.median(v):.3f}, worst {v.min():.3f}{against}")
        print(f"  per draw {' '.join(f'{x:.3f}' for x in v)}")


if __name__ == "__main__":
    main()
