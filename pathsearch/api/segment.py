"""`pathsearch segment --few-shot`: QuPath-export support masks -> label masks for every query image."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pathsearch.encoders.registry import build_encoder
from pathsearch.errors import PathsearchError
from pathsearch.heads.pixels import blend, fit_pixel_forest
from pathsearch.heads.refine import RefineConfig, predict_refined, pseudo_labels, train_refiner
from pathsearch.heads.segment import (
    SegmentConfig,
    class_indices,
    class_map,
    class_probabilities,
    fit_segmenter,
    support_patches,
)
from pathsearch.io.atomic import write_json
from pathsearch.io.exports import IMAGE_EXTS, MASK_SUFFIX, ExportItem, export_items
from pathsearch.io.geojson import mask_rings, polygon_feature, write_feature_collection
from pathsearch.io.manifest import new_manifest
from pathsearch.io.qupath import TileName, format_tile_name, parse_tile_name
from pathsearch.io.tile_sources import check_named, label_names, read_mask, read_rgb
from pathsearch.slide.open import open_slide
from pathsearch.slide.tiling import read_box
from pathsearch.viz.overlay import class_colours, mask_overlay
from pathsearch.viz.thumbnail import write_png


@dataclass(frozen=True)
class SegmentResult:
    out_dir: Path
    masks: list[Path]
    failed: dict[Path, str] = field(default_factory=dict)  # query image -> why it was skipped


@dataclass(frozen=True)
class SlideRegion:
    """A query read from a slide: a level-0 box, at the support export's downsample unless given."""

    box_level0: tuple[int, int, int, int]
    downsample: float | None = None


def segment(
    support: Path, query: Path, out: Path, model: str = "he-texture", weights: Path | None = None,
    config: SegmentConfig | None = None, refine: RefineConfig | None = None,
    on_image: Callable[[int, int], None] | None = None, region: SlideRegion | None = None,
    label_id: str = MASK_SUFFIX,
) -> SegmentResult:
    """Label masks, overlays and GeoJSON per query image (or for one `region` of the slide `query`).

    An unreadable query image is reported, not fatal. Masks are written as `<stem>-labelled.png` whatever
    `label_id` the support export used."""
    config = config or SegmentConfig()
    out = Path(out)
    images, masks, names = _support(Path(support), label_id)
    values = sorted({int(v) for m in masks for v in np.unique(m)})
    classes = [names.get(v, str(v)) for v in values]
    if region is None:  # queries are read before any embedding, so their errors come at once
        query_paths, query_images, failed = _read_queries([item.image for item in _items(Path(query), label_id)])
    else:
        downsample = region.downsample or _export_downsample(Path(support), label_id)
        query_paths, query_images, failed = _read_region(Path(query), region.box_level0, downsample)
    encoder = build_encoder(model, weights)
    patches, labels = support_patches(images, masks, values, config)
    classifier = fit_segmenter(patches, labels, encoder, config)
    probs = []
    for img in query_images:
        probs.append(class_probabilities(img, classifier, encoder, config))
        if on_image is not None:
            on_image(len(probs), len(query_images))
    support_targets = [class_indices(m, values) for m in masks]
    if config.pixel_forest is not None:
        forest, w = fit_pixel_forest(images, support_targets, len(values), config.pixel_forest), config.pixel_forest.weight
        probs = [blend(p, forest.probabilities(img), w) for img, p in zip(query_images, probs, strict=True)]
    if refine is not None:
        targets = support_targets + [pseudo_labels(p, refine.pseudo_label_min_prob) for p in probs]
        net = train_refiner(images + query_images, targets, len(values), refine)
        # The U-Net sharpens boundaries, the votes carry what the support showed: average the two.
        probs = [(predict_refined(net, img) + p) / 2 for img, p in zip(query_images, probs, strict=True)]
    written = []
    for path, image, prob in zip(query_paths, query_images, probs, strict=True):
        classes_px = class_map(prob, config.min_region_px)
        label_mask = np.asarray(values, np.uint8)[classes_px]
        target = out / f"{path.stem}{MASK_SUFFIX}.png"
        write_png(target, label_mask)
        write_png(out / f"{path.stem}-overlay.png", mask_overlay(image, classes_px, classes))
        _write_polygons(out / f"{path.stem}.geojson", classes_px, classes, path.name)
        written.append(target)
    manifest = new_manifest(
        "segment",
        {
            "model": model, **config.model_dump(), "refine": refine.model_dump() if refine else None,
            "region": asdict(region) if region else None, **encoder.provenance(),
        },
        {"support": str(Path(support).resolve()), "query": str(Path(query).resolve()), "images": len(written)},
    )
    manifest["counts"] = {"support_images": len(images), "support_patches": len(patches), "labels": values}
    manifest["classes"] = dict(zip(map(str, values), classes, strict=True))
    manifest["failed"] = {str(p): why for p, why in failed.items()}
    write_json(out / "manifest.json", manifest)
    return SegmentResult(out, written, failed)


def _read_queries(paths: list[Path]) -> tuple[list[Path], list[np.ndarray], dict[Path, str]]:
    readable, images, failed = [], [], {}
    for path in paths:
        try:
            images.append(read_rgb(path))
            readable.append(path)
        except PathsearchError as exc:
            failed[path] = str(exc)
    if not readable:
        raise PathsearchError(f"none of the {len(paths)} query images could be read: {next(iter(failed.values()))}")
    return readable, images, failed


def _read_region(
    slide_path: Path, box_level0: tuple[int, int, int, int], downsample: float
) -> tuple[list[Path], list[np.ndarray], dict[Path, str]]:
    """The region as one query image, named as QuPath names an exported region so outputs map back to level 0."""
    with open_slide(slide_path) as slide:
        image = read_box(slide, box_level0, downsample)
    name = format_tile_name(TileName(slide_path.stem, *box_level0, downsample=downsample), "png")
    return [slide_path.with_name(name)], [image], {}


def _export_downsample(folder: Path, label_id: str) -> float:
    """The `d=` the support images were exported at (1 when their names carry none)."""
    found = {(name.downsample or 1.0) for item in _items(folder, label_id) if (name := parse_tile_name(item.image.name))}
    if len(found) > 1:
        raise PathsearchError(f"{folder}: support images were exported at downsamples {sorted(found)}; give --region-downsample")
    return found.pop() if found else 1.0


def _items(folder: Path, label_id: str) -> list[ExportItem]:
    if folder.is_file():
        if folder.suffix.lower() not in IMAGE_EXTS:
            raise PathsearchError(f"{folder} is not an image; to segment part of a slide give --region X,Y,W,H (level-0 px)")
        return [ExportItem(folder, None)]
    items = export_items(folder.glob("*"), label_id)
    if not items:
        raise PathsearchError(f"{folder}: no images to segment")
    return items


def _support(folder: Path, label_id: str) -> tuple[list[np.ndarray], list[np.ndarray], dict[int, str]]:
    """Support images and masks, and the export's class names (values stay the masks' own)."""
    images, masks, names = [], [], label_names(folder)
    for item in _items(folder, label_id):
        path, mask_path = item.image, item.mask
        if mask_path is None:
            continue
        image, mask = read_rgb(path), read_mask(mask_path)
        if image.shape[:2] != mask.shape[:2]:
            raise PathsearchError(
                f"{path.name} is {image.shape[1]}x{image.shape[0]} px but its mask is {mask.shape[1]}x{mask.shape[0]}; "
                "export image and labels at the same downsample"
            )
        check_named(mask_path, [int(v) for v in np.unique(mask)], names)
        images.append(image)
        masks.append(mask)
    if not images:
        raise PathsearchError(
            f"{folder}: no image has a label image beside it ('STEM{label_id}.png', or the same stem with another "
            "extension); export labels from QuPath, or give --label-id"
        )
    return images, masks, names


def _write_polygons(path: Path, class_map: np.ndarray, classes: list[str], image_name: str) -> None:
    """Polygons with holes per class, in level-0 px when the image name carries QuPath's region."""
    name = parse_tile_name(image_name)
    scale = (name.downsample or 1.0) if name else 1.0
    offset = np.array([name.x, name.y]) if name else np.zeros(2)
    colours = class_colours(classes)
    features = [
        polygon_feature(
            _level0(exterior, scale, offset),
            [_level0(h, scale, offset) for h in holes],
            classification={"name": cls, "color": list(colours[cls])},
        )
        for i, cls in enumerate(classes)
        for exterior, holes in mask_rings(class_map == i)
    ]
    write_feature_collection(path, features)


def _level0(contour: np.ndarray, scale: float, offset: np.ndarray) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in contour.reshape(-1, 2) * scale + offset]
