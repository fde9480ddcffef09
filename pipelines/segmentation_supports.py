"""How much few-shot segmentation depends on which images are the support: score many random supports
of a QuPath export, embedding each image's patch grid once, for the votes alone, the pixel forest
alone, and the default (votes and forest averaged).

    python pipelines/segmentation_supports.py ../shared/data/segmentation/glas-dev --supports 30

It also runs the choice among those arms as a nested leave-one-image-out protocol, from the same
per-image scores: for each image, the arm is chosen on the supports and queries without it, then scored
on it, with supports that never contain it; the default's score on the same pairs is printed beside it.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from rich.progress import track

from pathsearch.api.embed import embed_tiles
from pathsearch.encoders.registry import build_encoder
from pathsearch.errors import PathsearchError
from pathsearch.eval.segmentation import overlap
from pathsearch.heads.classify import fit_few_shot
from pathsearch.heads.pixels import PixelForestConfig, blend, fit_pixel_forest
from pathsearch.heads.segment import (
    SegmentConfig,
    class_indices,
    class_map,
    crops,
    patch_features,
    patch_grid,
    patch_labels,
    vote_map,
)
from pathsearch.io.atomic import write_json
from pathsearch.io.exports import export_items
from pathsearch.io.tile_sources import read_mask, read_rgb

ARMS = ("votes knn", "votes linear", "pixel forest", "default")


def dice_per_class(predicted: np.ndarray, truth: np.ndarray, values: list[int]) -> float:
    """Mean Dice over the classes other than the first (background) value, as `pathsearch eval` scores it."""
    return float(np.mean([overlap(predicted == i, truth == v)["dice"] for i, v in enumerate(values[1:], start=1)]))


def score_support(
    support: tuple[int, ...], images: list[np.ndarray], masks: list[np.ndarray], grids: list[tuple[np.ndarray, np.ndarray]],
    values: list[int], config: SegmentConfig,
) -> dict[str, dict[int, float]]:
    """arm -> query image index -> Dice."""
    p = config.patch_px
    feats, labels = [], []
    for i in support:
        coords, emb = grids[i]
        for row, label in zip(emb, patch_labels(masks[i], coords, values, p, config.min_label_fraction), strict=True):
            if label is not None:
                feats.append(row)
                labels.append(label)
    queries = [i for i in range(len(images)) if i not in support]
    votes = {}
    for head in ("knn", "linear"):
        clf = fit_few_shot(np.array(feats), labels, config.few_shot.model_copy(update={"head": head}))
        votes[head] = [vote_map(clf, grids[q][1], grids[q][0], masks[q].shape, p) for q in queries]
    forest_config = config.pixel_forest or PixelForestConfig()
    targets = [class_indices(masks[i], values) for i in support]
    forest = fit_pixel_forest([images[i] for i in support], targets, len(values), forest_config)
    pixel = [forest.probabilities(images[q]) for q in queries]
    default_votes = votes[config.few_shot.head]
    maps = {
        "votes knn": votes["knn"],
        "votes linear": votes["linear"],
        "pixel forest": pixel,
        "default": [blend(v, f, forest_config.weight) for v, f in zip(default_votes, pixel, strict=True)],
    }
    return {
        arm: {q: dice_per_class(class_map(m, config.min_region_px), masks[q], values) for m, q in zip(ms, queries, strict=True)}
        for arm, ms in maps.items()
    }


def nested_choice(table: list[tuple[tuple[int, ...], dict[str, dict[int, float]]]], n_images: int) -> list[dict]:
    """Per held-out image: the arm with the best mean Dice over supports without it, scored on the other
    images only; then every arm's Dice on the held-out image over those same supports."""
    folds = []
    for held in range(n_images):
        usable = [scores for support, scores in table if held not in support]
        if not usable:
            continue
        inner = {arm: float(np.mean([np.mean([d for q, d in s[arm].items() if q != held]) for s in usable])) for arm in ARMS}
        chosen = max(inner, key=inner.__getitem__)
        folds.append({"held_out": held, "supports": len(usable), "inner": inner, "chosen": chosen,
                      "held_out_dice": {arm: [s[arm][held] for s in usable] for arm in ARMS}})
    return folds


def summarise(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "median": float(np.median(values)), "worst": float(np.min(values))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path, help="QuPath export folder: images with -labelled masks")
    parser.add_argument("--shots", type=int, default=3, help="support images per draw")
    parser.add_argument("--support", nargs="+", help="score this one support (image stems) instead of random draws")
    parser.add_argument("--supports", type=int, default=30, help="random supports to score; 0 = every combination")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=0, help="STHLM samples per patch; 0 = plain k-NN")
    parser.add_argument("--per-patch", action="store_true", help="embed each patch as a tile (no dense path): the reference")
    parser.add_argument("--json", type=Path, default=Path("segmentation_supports.json"))
    args = parser.parse_args()
    config = SegmentConfig()
    config = config.model_copy(update={"few_shot": config.few_shot.model_copy(update={"samples": args.samples})})
    try:
        items = [item for item in export_items(Path(args.export).iterdir()) if item.mask is not None]
        if len(items) <= args.shots:
            raise PathsearchError(f"{args.export}: {len(items)} labelled images; need more than --shots {args.shots}")
        images = [read_rgb(item.image) for item in items]
        masks = [read_mask(item.mask) for item in items if item.mask is not None]
    except (PathsearchError, OSError) as exc:
        sys.exit(f"error: {exc}")
    stems = [item.image.stem.split(" [")[0] for item in items]
    if args.support and (unknown := sorted(set(args.support) - set(stems))):
        sys.exit(f"error: --support {' '.join(unknown)}: no such labelled image in {args.export}")
    values = sorted({int(v) for m in masks for v in np.unique(m)})
    encoder = build_encoder("he-texture")
    grids = []
    for image in track(images, description="embedding patch grids"):
        coords = patch_grid(*image.shape[:2], config.patch_px, config.stride_px)
        if args.per_patch:
            grids.append((coords, embed_tiles(crops(image, coords, config.patch_px), encoder, 32)))
        else:
            grids.append((coords, patch_features(image, coords, encoder, config.patch_px)))
    combos = list(itertools.combinations(range(len(images)), args.shots))
    if args.support:
        combos, args.supports = [tuple(sorted(stems.index(s) for s in args.support))], 0
    if args.supports:
        rng = np.random.default_rng(args.seed)
        combos = [combos[i] for i in sorted(rng.choice(len(combos), min(args.supports, len(combos)), replace=False))]
    table = [(support, score_support(support, images, masks, grids, values, config))
             for support in track(combos, description="scoring supports")]
    rows = [{"support": [stems[i] for i in support],
             **{arm: float(np.mean(list(per_query.values()))) for arm, per_query in scores.items()},
             "per_image": {arm: {stems[q]: d for q, d in per_query.items()} for arm, per_query in scores.items()}}
            for support, scores in table]
    summary = {arm: {**summarise([r[arm] for r in rows]), "reaching_0.80": int(sum(r[arm] >= 0.80 for r in rows))} for arm in ARMS}
    folds = nested_choice(table, len(images))
    write_json(args.json, {"config": config.model_dump(), "supports": len(rows), "summary": summary, "rows": rows,
                           "nested": [{**f, "held_out": stems[f["held_out"]]} for f in folds]})
    for arm, s in summary.items():
        print(f"{arm:>13}: mean {s['mean']:.3f}, median {s['median']:.3f}, worst {s['worst']:.3f}, "
              f"{s['reaching_0.80']}/{len(rows)} supports reach 0.80")
    _print_nested(folds, stems)
    print(f"per support and per image: {args.json}")


def _print_nested(folds: list[dict], stems: list[str]) -> None:
    print("\nnested leave-one-image-out: arm chosen without the image, then scored on it")
    print("| held-out image | supports | chosen | chosen: mean / median / worst | default: mean |")
    print("|---|---|---|---|---|")
    for f in folds:
        chosen, default = summarise(f["held_out_dice"][f["chosen"]]), summarise(f["held_out_dice"]["default"])
        print(f"| {stems[f['held_out']]} | {f['supports']} | {f['chosen']} | "
              f"{chosen['mean']:.3f} / {chosen['median']:.3f} / {chosen['worst']:.3f} | {default['mean']:.3f} |")
    pooled = {
        "chosen": [d for f in folds for d in f["held_out_dice"][f["chosen"]]],
        "default": [d for f in folds for d in f["held_out_dice"]["default"]],
    }
    for arm, ds in pooled.items():
        s = summarise(ds)
        print(f"held-out, {arm}: mean {s['mean']:.3f}, median {s['median']:.3f}, worst {s['worst']:.3f} over {len(ds)} (image, support) pairs")


if __name__ == "__main__":
    main()
