"""`pathsearch classify --few-shot`: support tiles -> STHLM-pooled votes for every query tile -> files."""

from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from pathsearch.api.embed import embed_tiles
from pathsearch.api.tile import tile_slide
from pathsearch.config import TileConfig
from pathsearch.encoders.base import Encoder
from pathsearch.encoders.registry import build_encoder
from pathsearch.errors import PathsearchError
from pathsearch.heads.augment import augmented_views
from pathsearch.heads.classify import FewShotConfig, fit_few_shot
from pathsearch.heads.support import load_support
from pathsearch.io.atomic import atomic_path, write_json
from pathsearch.io.exports import MASK_SUFFIX
from pathsearch.io.features_h5 import read_features_h5
from pathsearch.io.geojson import polygon_feature, write_feature_collection
from pathsearch.io.manifest import new_manifest
from pathsearch.io.tile_sources import FolderTiles, SlideTiles, open_tile_source
from pathsearch.slide.open import open_slide
from pathsearch.viz.overlay import class_colours, tile_heatmap
from pathsearch.viz.thumbnail import write_png

HEATMAP_LONG_SIDE_PX = 1200
Progress = Callable[[str], None]


@dataclass(frozen=True)
class ClassifyResult:
    out_dir: Path
    tiles: int
    summary: dict[str, dict[str, float]]
    files: dict[str, Path]


def classify(
    support: Path,
    query: Path,
    out: Path,
    model: str = "he-texture",
    weights: Path | None = None,
    support_slide: Path | None = None,
    tile_config: TileConfig | None = None,
    config: FewShotConfig | None = None,
    batch_size: int = 32,
    workers: int = 0,
    on_step: Progress | None = None,
    label_id: str = MASK_SUFFIX,
) -> ClassifyResult:
    config = config or FewShotConfig()
    tile_config = tile_config or TileConfig()
    step = on_step or (lambda _msg: None)
    out, query = Path(out), Path(query)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    encoder = build_encoder(model, weights)
    step("embedding support tiles")
    support_feats, labels, view_feats, view_origin = _support_features(
        Path(support), support_slide or (query if query.is_file() else None), tile_config, encoder, config, batch_size,
        label_id,
    )
    step("tiling and embedding queries")
    source = _query_source(query, out, tile_config)
    query_feats = embed_tiles(source, encoder, batch_size, workers=workers)
    timings["embed_s"] = time.perf_counter() - t0
    step(f"training STHLM on {len(labels)} support tiles" if config.samples else "building the support bank")
    classifier = fit_few_shot(support_feats, labels, config, view_feats, view_origin)
    timings["train_s"] = classifier.train_s
    probs = classifier.predict_proba(query_feats)
    classes = classifier.classes
    predicted = probs.argmax(axis=1)
    boxes, paths = _boxes(source)
    summary = _summary(classes, predicted, probs)
    files = {
        "predictions_csv": out / "predictions.csv",
        "summary": out / "summary.json",
        "predictions_geojson": out / "predictions.geojson",
    }
    _write_csv(files["predictions_csv"], paths, boxes, classes, predicted, probs)
    write_json(files["summary"], {"classes": summary, "tiles": len(predicted)})
    _write_geojson(files["predictions_geojson"], boxes, classes, predicted, probs)
    if isinstance(source, SlideTiles):
        files["heatmap"] = out / "heatmap.png"
        _write_heatmap(files["heatmap"], source, classes, predicted, probs, tile_config)
    timings["total_s"] = time.perf_counter() - t0
    manifest = new_manifest(
        "classify",
        {"model": model, **config.model_dump(), "tile": tile_config.grid_params(), **encoder.provenance()},
        {"support": str(Path(support).resolve()), "query": str(query.resolve()), "support_tiles": len(labels)},
    )
    manifest["counts"] = {"query_tiles": len(predicted), "support_per_class": dict(Counter(labels))}
    manifest["timings"] = timings
    write_json(out / "manifest.json", manifest)
    return ClassifyResult(out, len(predicted), summary, files)


def _support_features(
    support: Path, slide: Path | None, tile_config: TileConfig, encoder: Encoder, config: FewShotConfig, batch_size: int,
    label_id: str,
) -> tuple[np.ndarray, list[str], np.ndarray | None, np.ndarray | None]:
    """features.h5 from `pathsearch embed` (no images, so no augmented views), or tiles embedded here."""
    if support.suffix == ".h5":
        features = read_features_h5(support)
        if features.labels is None:
            raise PathsearchError(f"{support}: support features carry no labels; embed a labelled tile folder")
        if features.features.shape[1] != encoder.dim:
            raise PathsearchError(
                f"{support}: support embeddings are {features.features.shape[1]}-d "
                f"({features.attrs.get('encoder')}) but --model {encoder.name} gives {encoder.dim}-d; "
                "embed support and queries with the same model"
            )
        return features.features.astype(np.float32), features.labels, None, None
    tiles, labels = load_support(support, slide, tile_config, label_id)
    feats = embed_tiles(tiles, encoder, batch_size)
    if config.views_per_tile == 0:
        return feats, labels, None, None
    views, origin = augmented_views([tiles[i] for i in range(len(tiles))], config.views_per_tile, config.seed)
    return feats, labels, embed_tiles(views, encoder, batch_size), origin


def _query_source(query: Path, out: Path, tile_config: TileConfig) -> SlideTiles | FolderTiles:
    if query.is_file():
        result = tile_slide(query, tile_config, out / "tiles")
        return open_tile_source(result.out_dir)
    return open_tile_source(query)


def _boxes(source: SlideTiles | FolderTiles) -> tuple[np.ndarray, list[str]]:
    """Level-0 (x, y, w, h) per tile: from the slide grid, QuPath names, or the image itself."""
    if isinstance(source, SlideTiles):
        side = int(source.attrs["patch_size_level0"])
        boxes = np.column_stack([source.coords, np.full((len(source), 2), side)])
        return boxes.astype(np.int64), [str(source.slide_path)] * len(source)
    rows = []
    for path, name in zip(source.paths, source.boxes, strict=True):
        if name is not None:
            rows.append((name.x, name.y, name.w, name.h))
        else:
            with Image.open(path) as img:
                rows.append((0, 0, *img.size))
    return np.array(rows, np.int64).reshape(-1, 4), [str(p) for p in source.paths]


def _summary(classes: list[str], predicted: np.ndarray, probs: np.ndarray) -> dict[str, dict[str, float]]:
    n = max(len(predicted), 1)
    return {
        c: {"tiles": int((predicted == i).sum()), "fraction": float((predicted == i).sum() / n), "mean_prob": float(probs[:, i].mean())}
        for i, c in enumerate(classes)
    }


def _write_csv(path: Path, paths: list[str], boxes: np.ndarray, classes: list[str], predicted: np.ndarray, probs: np.ndarray) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["path", "x", "y", "w", "h", "label", *(f"prob_{c}" for c in classes)])
    for p, box, cls, row in zip(paths, boxes, predicted, probs, strict=True):
        writer.writerow([p, *box.tolist(), classes[cls], *(f"{v:.4f}" for v in row)])
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


def _write_geojson(path: Path, boxes: np.ndarray, classes: list[str], predicted: np.ndarray, probs: np.ndarray) -> None:
    """Tiles as QuPath detections: class name + colour, and the probabilities as measurements."""
    colours = class_colours(classes)
    features = []
    for (x, y, w, h), cls, row in zip(boxes.tolist(), predicted, probs, strict=True):
        name = classes[cls]
        features.append(
            polygon_feature(
                [(x, y), (x + w, y), (x + w, y + h), (x, y + h)],
                object_type="detection",
                classification={"name": name, "color": list(colours[name])},
                properties={"measurements": {f"prob_{c}": round(float(v), 4) for c, v in zip(classes, row, strict=True)}},
            )
        )
    write_feature_collection(path, features)


def _write_heatmap(
    path: Path, source: SlideTiles, classes: list[str], predicted: np.ndarray, probs: np.ndarray, tile_config: TileConfig
) -> None:
    with open_slide(source.slide_path, mpp=source.slide_mpp or tile_config.slide_mpp) as slide:
        thumb, ds = slide.thumbnail(max(1.0, max(slide.dimensions) / HEATMAP_LONG_SIDE_PX))
    side = int(source.attrs["patch_size_level0"])
    write_png(path, tile_heatmap(thumb, ds, source.coords, side, predicted, probs.max(axis=1), classes))
