"""Every support input -> labelled tiles: class folders, QuPath tile exports, GeoJSON on a slide."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from pathsearch.config import TileConfig
from pathsearch.errors import PathsearchError
from pathsearch.io.annotations import ClassPolygon, read_annotations
from pathsearch.io.exports import MASK_SUFFIX
from pathsearch.io.tile_sources import FolderTiles, SlideTiles, folder_tiles
from pathsearch.slide.open import open_slide
from pathsearch.slide.tiling import grid_coords, mask_fractions, plan_geometry

ANNOTATED_FRACTION = 0.5  # a support tile must lie at least half inside its class's annotation
_MASK_PX_PER_TILE = 16


def load_support(
    support: Path, slide: Path | None = None, config: TileConfig | None = None, label_id: str = MASK_SUFFIX
) -> tuple[SlideTiles | FolderTiles, list[str]]:
    """Labelled support tiles; every class named must end up with at least one tile."""
    support = Path(support)
    if support.suffix.lower() in (".geojson", ".json"):
        if slide is None:
            raise PathsearchError(f"{support}: GeoJSON support needs its slide: pass --support-slide")
        tiles, labels = annotation_tiles(support, slide, config or TileConfig())
    elif support.is_dir():
        tiles = folder_tiles(support, label_id)
        if tiles.labels is None:
            raise PathsearchError(
                f"{support}: support tiles need labels: class subfolders, or label images ('STEM{label_id}.png') "
                "beside a QuPath export"
            )
        labels = tiles.labels
    else:
        raise PathsearchError(f"{support}: support must be a tile folder or a QuPath GeoJSON of annotations")
    if len(set(labels)) < 2:
        raise PathsearchError(f"{support}: support has one class ({labels[0]}); few-shot needs at least two")
    return tiles, labels


def annotation_tiles(geojson: Path, slide_path: Path, config: TileConfig) -> tuple[SlideTiles, list[str]]:
    """Tile the slide's grid and keep tiles lying mostly inside one class's polygons."""
    polygons = read_annotations(geojson)
    classes = sorted({p.name for p in polygons})
    with open_slide(slide_path, mpp=config.slide_mpp) as slide:
        geometry = plan_geometry(
            slide, slide.require_mpp(), config.resolved_target_mpp, config.tile_size, config.overlap, config.level_tolerance
        )
        width, height = slide.dimensions
    ds = geometry.patch_size_level0 / _MASK_PX_PER_TILE
    shape = (int(np.ceil(height / ds)), int(np.ceil(width / ds)))
    coords = grid_coords(width, height, geometry.patch_size_level0, geometry.step_level0)
    fractions = np.stack(
        [
            mask_fractions(_rasterise([p for p in polygons if p.name == c], shape, ds), (ds, ds), coords, geometry.patch_size_level0)
            for c in classes
        ],
        axis=1,
    )
    best = fractions.argmax(axis=1)
    keep = fractions[np.arange(len(coords)), best] >= ANNOTATED_FRACTION
    labels = [classes[i] for i in best[keep]]
    counts = Counter(labels)
    empty = [c for c in classes if counts[c] == 0]
    if empty:
        raise PathsearchError(
            f"{geojson}: support class {', '.join(repr(c) for c in empty)} has no tiles "
            f"(no {geometry.patch_size_level0} px tile lies half inside its annotations); draw larger regions "
            "or use a smaller --tile-size"
        )
    attrs = {"read_level": geometry.read_level, "read_size": geometry.read_size, "patch_size": geometry.patch_size,
             "patch_size_level0": geometry.patch_size_level0}
    return SlideTiles(Path(slide_path), coords[keep], attrs, config.slide_mpp), labels


def _rasterise(polygons: list[ClassPolygon], shape: tuple[int, int], ds: float) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for p in polygons:
        cv2.fillPoly(mask, [np.round(p.exterior / ds).astype(np.int32)], 1)
        for hole in p.holes:
            cv2.fillPoly(mask, [np.round(hole / ds).astype(np.int32)], 0)
    return mask
