"""Few-shot gland segmentation on a QuPath export: pick support images, segment the rest, score Dice.

Defaults reproduce the GlaS figure in BENCHMARKS.md:
    python pipelines/fewshot_segmentation.py ../shared/data/segmentation/glas-dev --out seg_out
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from pathsearch.api.segment import segment
from pathsearch.errors import PathsearchError
from pathsearch.eval.segmentation import evaluate_segmentation
from pathsearch.heads.refine import RefineConfig
from pathsearch.heads.segment import SegmentConfig
from pathsearch.io.atomic import write_json
from pathsearch.io.exports import export_items

DEFAULT_SUPPORT = ("glas_testA_25", "glas_testA_30", "glas_testB_3")


def split(export: Path, support_stems: tuple[str, ...], work: Path) -> tuple[Path, Path]:
    """Copy the chosen images (with masks) into support/, the others into query/ with their masks as truth."""
    support, query = work / "support", work / "query"
    for folder in (support, query):
        folder.mkdir(parents=True, exist_ok=True)
    for item in export_items(export.iterdir()):
        target = support if item.image.stem.split(" [")[0] in support_stems else query
        for path in (item.image, item.mask) if item.mask else (item.image,):
            shutil.copy2(path, target / path.name)
    return support, query


def run(export: Path, out: Path, support_stems: tuple[str, ...], config: SegmentConfig, refine: bool) -> None:
    support, query = split(export, support_stems, out / "split")
    result = segment(support, query, out / "masks", config=config, refine=RefineConfig() if refine else None)
    scores = evaluate_segmentation(result.out_dir, query)
    write_json(out / "dice.json", scores)
    for cls, row in scores["mean"].items():
        print(f"class {cls}: mean Dice {row['dice']:.3f}, IoU {row['iou']:.3f} over {scores['images']} images")
    print(f"masks and overlays: {result.out_dir}; scores: {out / 'dice.json'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=Path, help="QuPath export folder: images with -labelled masks")
    parser.add_argument("--out", type=Path, default=Path("seg_out"))
    parser.add_argument("--support", nargs="+", default=list(DEFAULT_SUPPORT), help="image stems used as support")
    parser.add_argument("--samples", type=int, default=0, help="STHLM samples per patch; 0 = plain k-NN")
    parser.add_argument("--head", choices=["knn", "linear"], default=SegmentConfig().few_shot.head)
    parser.add_argument("--no-pixel-forest", action="store_true", help="patch votes alone")
    parser.add_argument("--min-region-px", type=int, default=SegmentConfig().min_region_px)
    parser.add_argument("--refine", action="store_true")
    parser.add_argument("--patch-px", type=int, default=SegmentConfig().patch_px)
    parser.add_argument("--stride-px", type=int, default=SegmentConfig().stride_px)
    args = parser.parse_args()
    few_shot = SegmentConfig().few_shot.model_copy(update={"samples": args.samples, "head": args.head})
    config = SegmentConfig(patch_px=args.patch_px, stride_px=args.stride_px, few_shot=few_shot, min_region_px=args.min_region_px)
    if args.no_pixel_forest:
        config = config.model_copy(update={"pixel_forest": None})
    try:
        run(args.export, args.out, tuple(args.support), config, args.refine)
    except PathsearchError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
