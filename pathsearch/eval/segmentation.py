"""Dice and IoU per class, per image and averaged, for label masks matched by file stem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pathsearch.errors import PathsearchError
from pathsearch.io.exports import IMAGE_EXTS, MASK_SUFFIX
from pathsearch.io.tile_sources import read_mask


def _masks(folder: Path) -> dict[str, Path]:
    """stem (without -labelled) -> mask path; only label images count."""
    found = {}
    for p in sorted(folder.glob("*")):
        if p.suffix.lower() in IMAGE_EXTS and p.stem.endswith(MASK_SUFFIX):
            found[p.stem[: -len(MASK_SUFFIX)]] = p
    if not found:
        raise PathsearchError(f"{folder}: no '*{MASK_SUFFIX}.png' label masks found")
    return found


def overlap(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice and IoU of two boolean masks; both empty counts as perfect agreement."""
    inter, total, union = (predicted & truth).sum(), predicted.sum() + truth.sum(), (predicted | truth).sum()
    return {"dice": float(2 * inter / total) if total else 1.0, "iou": float(inter / union) if union else 1.0}


def evaluate_segmentation(pred_dir: Path, gt_dir: Path) -> dict[str, Any]:
    pred, gt = _masks(Path(pred_dir)), _masks(Path(gt_dir))
    missing = sorted(set(pred) - set(gt))
    if missing:
        raise PathsearchError(f"no ground truth for {len(missing)} prediction(s), e.g. '{missing[0]}': match file stems")
    per_image: dict[str, dict[str, dict[str, float]]] = {}
    for stem in sorted(pred):
        p, g = read_mask(pred[stem]), read_mask(gt[stem])
        if p.shape != g.shape:
            raise PathsearchError(f"'{stem}': prediction is {p.shape[1]}x{p.shape[0]} px, ground truth {g.shape[1]}x{g.shape[0]}")
        per_image[stem] = {str(v): overlap(p == v, g == v) for v in np.union1d(np.unique(p), np.unique(g)).tolist()}
    classes = sorted({c for s in per_image.values() for c in s}, key=int)
    mean = {
        c: {m: float(np.mean([s[c][m] for s in per_image.values() if c in s])) for m in ("dice", "iou")} for c in classes
    }
    return {"images": len(per_image), "unmatched_ground_truth": sorted(set(gt) - set(pred)), "mean": mean, "per_image": per_image}
