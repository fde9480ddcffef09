"""`pathsearch segment --few-shot`: QuPath-export support masks -> label masks for every query image."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pathsearch.api.segment_region import BLOCK_PX, BlockCheckpoint, RegionGrid, overview, top_two_by_block
from pathsearch.encoders.registry import build_encoder
from pathsearch.errors import PathsearchError
from pathsearch.heads.classify import fit_few_shot
from pathsearch.heads.pixels import LabStats, fit_pixel_forest, lab_stats
from pathsearch.heads.refine import RefineConfig, predict_refined, pseudo_labels, train_refiner
from pathsearch.heads.segment import (
    SegmentConfig,
    class_indices,
    class_map,
    merge_small_regions,
    segment_probabilities,
    support_features,
)
from pathsearch.io.atomic import write_json
from pathsearch.io.exports import IMAGE_EXTS, MASK_SUFFIX, ExportItem, export_items
from pathsearch.io.geojson import mask_rings, polygon_feature, write_feature_collection
from pathsearch.io.lock import output_lock
from pathsearch.io.manifest import file_fingerprint, new_manifest
from pathsearch.io.qupath import TileName, format_tile_name, parse_tile_name
from pathsearch.io.tile_sources import check_named, label_names, read_mask, read_rgb
from pathsearch.slide.open import open_slide
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
    label_id: str = MASK_SUFFIX, block_px: int = BLOCK_PX,
) -> SegmentResult:
    """Label masks, overlays and GeoJSON per query image (or for one `region` of the slide `query`,
    streamed in blocks of `block_px`; `on_image` then counts blocks).

    An unreadable query image is reported, not fatal. Masks are written as `<stem>-labelled.png` whatever
    `label_id` the support export used."""
    config = config or SegmentConfig()
    out = Path(out)
    if region is not None and refine is not None:
        raise PathsearchError("--refine trains on whole images and cannot stream a --region; drop one of them")
    with output_lock(out):
        return _segment_locked(Path(support), Path(query), out, model, weights, config, refine, on_image, region, label_id, block_px)


def _segment_locked(
    support: Path, query: Path, out: Path, model: str, weights: Path | None, config: SegmentConfig,
    refine: RefineConfig | None, on_image: Callable[[int, int], None] | None, region: SlideRegion | None,
    label_id: str, block_px: int,
) -> SegmentResult:
    images, masks, names = _support(support, label_id)
    values = sorted({int(v) for m in masks for v in np.unique(m)})
    classes = [names.get(v, str(v)) for v in values]
    # queries are read (a region: its overview) before any embedding, so their errors come at once
    if region is None:
        query_paths, query_images, failed = _read_queries([item.image for item in _items(query, label_id)])
    else:
        failed, downsample = {}, region.downsample or _export_downsample(support, label_id)
        with open_slide(query) as slide:
            view = overview(slide, region.box_level0, downsample)
    encoder = build_encoder(model, weights)
    params = {
        "model": model, **config.model_dump(), "refine": refine.model_dump() if refine else None,
        "region": asdict(region) if region else None, **encoder.provenance(),
    }
    inputs = {"support": str(support.resolve()), "query": str(query.resolve())}
    features, labels = support_features(images, masks, values, encoder, config)
    classifier = fit_few_shot(features, labels, config.few_shot)
    support_targets = [class_indices(m, values) for m in masks]
    forest = None if config.pixel_forest is None else fit_pixel_forest(images, support_targets, len(values), config.pixel_forest)

    def probabilities(image: np.ndarray, stats: LabStats | None = None) -> np.ndarray:
        return segment_probabilities(image, classifier, encoder, config, forest, stats)

    if region is not None:
        key = _run_key(params | {"block_px": block_px, "downsample": downsample}, [query, *_items(support, label_id)])
        task = _RegionTask(query, region.box_level0, downsample, view, block_px, key)
        written = [_segment_region(task, probabilities, config, values, classes, out, on_image)]
    elif refine is not None:
        written = _refined(query_paths, query_images, images, support_targets, probabilities, refine, config, values, classes, out)
    else:
        written = _segment_images(query_paths, query_images, probabilities, config, values, classes, out, on_image)
    manifest = new_manifest("segment", params, inputs | {"images": len(written)})
    manifest["counts"] = {"support_images": len(images), "support_patches": len(labels), "labels": values}
    manifest["classes"] = dict(zip(map(str, values), classes, strict=True))
    manifest["failed"] = {str(p): why for p, why in failed.items()}
    write_json(out / "manifest.json", manifest)
    return SegmentResult(out, written, failed)


Probabilities = Callable[..., np.ndarray]


def _segment_images(
    paths: list[Path], images: list[np.ndarray], probabilities: Probabilities, config: SegmentConfig,
    values: list[int], classes: list[str], out: Path, on_image: Callable[[int, int], None] | None,
) -> list[Path]:
    written = []
    for path, image in zip(paths, images, strict=True):
        written.append(_write_outputs(path, image, class_map(probabilities(image), config.min_region_px), values, classes, out))
        if on_image is not None:
            on_image(len(written), len(images))
    return written


def _refined(
    paths: list[Path], images: list[np.ndarray], support_images: list[np.ndarray], support_targets: list[np.ndarray],
    probabilities: Probabilities, refine: RefineConfig, config: SegmentConfig, values: list[int], classes: list[str], out: Path,
) -> list[Path]:
    """The U-Net sharpens boundaries, the votes carry what the support showed: the two are averaged."""
    probs = [probabilities(image) for image in images]
    targets = support_targets + [pseudo_labels(p, refine.pseudo_label_min_prob) for p in probs]
    net = train_refiner(support_images + images, targets, len(values), refine)
    return [
        _write_outputs(path, image, class_map((predict_refined(net, image) + p) / 2, config.min_region_px), values, classes, out)
        for path, image, p in zip(paths, images, probs, strict=True)
    ]


def _write_outputs(
    path: Path, image: np.ndarray, classes_px: np.ndarray, values: list[int], classes: list[str], out: Path
) -> Path:
    """Label mask and GeoJSON at full size; the overlay on `image`, which may be a smaller overview."""
    target = out / f"{path.stem}{MASK_SUFFIX}.png"
    write_png(target, np.asarray(values, np.uint8)[classes_px])
    shown = classes_px
    if image.shape[:2] != classes_px.shape:
        shown = cv2.resize(classes_px, image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    write_png(out / f"{path.stem}-overlay.png", mask_overlay(image, shown, classes))
    _write_polygons(out / f"{path.stem}.geojson", classes_px, classes, path.name)
    return target


@dataclass(frozen=True)
class _RegionTask:
    slide: Path
    box_level0: tuple[int, int, int, int]
    downsample: float
    view: np.ndarray  # the overview: colour statistics and the overlay's background
    block_px: int
    key: str  # names the run, so only the same run resumes its checkpoint


def _run_key(params: dict[str, object], paths: list[Path | ExportItem]) -> str:
    files = [p for item in paths for p in ((item,) if isinstance(item, Path) else (item.image, item.mask)) if p is not None]
    text = json.dumps({"params": params, "inputs": [file_fingerprint(p) for p in files]}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _segment_region(
    task: _RegionTask, probabilities: Probabilities, config: SegmentConfig, values: list[int], classes: list[str],
    out: Path, on_block: Callable[[int, int], None] | None,
) -> Path:
    """Outputs named as QuPath names an exported region, so the GeoJSON maps back to level 0; the
    overlay is drawn on the overview, not at full size."""
    _, _, w, h = task.box_level0
    width, height = max(1, round(w / task.downsample)), max(1, round(h / task.downsample))
    reach = max(config.patch_px, int(np.ceil(4 * config.pixel_forest.sigma_max_px)) if config.pixel_forest else 0)
    grid = RegionGrid.plan(width, height, config.stride_px, reach, task.block_px)
    name = Path(format_tile_name(TileName(task.slide.stem, *task.box_level0, downsample=task.downsample), "png"))
    checkpoint = BlockCheckpoint.open(out / f".{name.stem}.blocks", task.key, (height, width))
    with open_slide(task.slide) as slide:
        stats = lab_stats(task.view) if config.pixel_forest and config.pixel_forest.colour != "rgb" else None
        best, second = top_two_by_block(slide, task.box_level0, task.downsample, grid, probabilities, stats, checkpoint, on_block)
    classes_px = merge_small_regions(best, second, len(values), config.min_region_px)
    del best, second
    written = _write_outputs(name, task.view, classes_px, values, classes, out)
    checkpoint.remove()
    return written


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
