"""`pathsearch tile` as an API: one slide -> OUT/<stem>/{tiles.h5, tissue.geojson, ...}."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from pathsearch.cohort.runner import Cluster, run_batch
from pathsearch.config import TileConfig
from pathsearch.errors import PathsearchError, SlideError
from pathsearch.io.atomic import atomic_dir, write_json
from pathsearch.io.geojson import polygon_feature, write_feature_collection
from pathsearch.io.lock import output_lock
from pathsearch.io.manifest import file_fingerprint, manifest_matches, new_manifest
from pathsearch.io.qupath import TileName, format_tile_name
from pathsearch.io.tiles_h5 import write_tiles_h5
from pathsearch.slide.base import Slide
from pathsearch.slide.open import open_slide
from pathsearch.slide.supertiles import plan_reads, read_group
from pathsearch.slide.tiling import (
    TileGeometry,
    grid_coords,
    mask_fractions,
    plan_geometry,
)
from pathsearch.slide.tissue import TissueMask, detect_tissue, tissue_polygons
from pathsearch.viz.thumbnail import draw_tiling_qc, write_png

# The QC thumbnail's minimum long side. It is read at the tissue mask's ~8 um/px when that is finer
# (large slides), so one read serves both and the mask needs no resize.
_QC_LONG_SIDE_PX = 1024


@dataclass
class TileResult:
    slide: Path
    out_dir: Path | None
    status: str  # "done", "skipped" or "failed"
    n_tiles: int = 0
    error: str = ""
    warnings: list[str] = field(default_factory=list)


def _read_thumbnail_and_mask(
    slide: Slide, config: TileConfig, level0_mpp: float
) -> tuple[np.ndarray, tuple[float, float], TissueMask]:
    """One thumbnail read serves both the QC picture and the ~mask_mpp tissue mask."""
    mask_ds = config.mask_mpp / level0_mpp
    qc_ds = max(1.0, min(mask_ds, max(slide.dimensions) / _QC_LONG_SIDE_PX))
    thumb, thumb_ds = slide.thumbnail(qc_ds)
    w0, h0 = slide.dimensions
    mask_w, mask_h = max(1, round(w0 / mask_ds)), max(1, round(h0 / mask_ds))
    # Under 2x, bilinear already blends every source pixel; INTER_AREA's fractional path costs ~6x more.
    shrink = min(thumb.shape[1] / mask_w, thumb.shape[0] / mask_h)
    interpolation = cv2.INTER_AREA if shrink >= 2 else cv2.INTER_LINEAR
    small = cv2.resize(thumb, (mask_w, mask_h), interpolation=interpolation)
    tissue = detect_tissue(
        small,
        (w0 / mask_w, h0 / mask_h),
        level0_mpp,
        method=config.tissue,
        threshold=config.tissue_threshold,
        min_tissue_area_um2=config.min_tissue_area_um2,
        min_hole_area_um2=config.min_hole_area_um2,
    )
    return thumb, thumb_ds, tissue


def _write_qc(
    folder: Path,
    thumb: np.ndarray,
    thumb_ds: tuple[float, float],
    polygons: list[tuple[np.ndarray, list[np.ndarray]]],
    coords: np.ndarray,
    geometry: TileGeometry,
) -> None:
    qc = draw_tiling_qc(thumb, thumb_ds, polygons, coords, geometry.patch_size_level0, geometry.step_level0)
    write_png(str(folder / "thumbnail.png"), qc)


def _export_tiles(
    slide: Slide, coords: np.ndarray, geometry: TileGeometry, folder: Path, config: TileConfig
) -> None:
    """Tiles named as QuPath exports them, so one reader handles both.

    Read a block at a time (`slide.supertiles`); threads overlap decoding and PNG/JPEG encoding, both
    release the GIL.
    """
    folder.mkdir()
    ext = config.save_tiles or "png"
    params = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality] if ext == "jpg" else []
    reads = plan_reads(slide, coords, geometry.read_level, geometry.read_size, geometry.patch_size)
    side = geometry.patch_size_level0

    def export(g: int) -> None:
        for i, tile in read_group(slide, reads, g):
            x, y = int(coords[i][0]), int(coords[i][1])
            name = TileName(slide.path.stem, x, y, side, side, geometry.downsample)
            if not cv2.imwrite(str(folder / format_tile_name(name, ext)), tile[..., ::-1], params):
                raise OSError(f"could not write tile {name} into {folder}")

    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for _ in pool.map(export, range(len(reads.groups))):
            pass


def tile_slide(path: Path | str, config: TileConfig | None = None, out: Path | str = ".") -> TileResult:
    """Tile one slide into OUT/<stem>/; skip when a finished manifest matches. Raises on bad input."""
    config = config or TileConfig()
    path = Path(path)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with open_slide(path, mpp=config.slide_mpp) as slide:
        level0_mpp = slide.require_mpp()
        out_dir = Path(out) / path.stem
        params = config.grid_params()
        inputs = {"slide": file_fingerprint(path)}
        if manifest_matches(out_dir / "manifest.json", params, inputs):
            return TileResult(path, out_dir, "skipped")
        geometry = plan_geometry(
            slide,
            level0_mpp,
            config.resolved_target_mpp,
            config.tile_size,
            config.overlap,
            config.level_tolerance,
        )
        thumb, thumb_ds, tissue = _read_thumbnail_and_mask(slide, config, level0_mpp)
        timings["thumbnail_and_tissue_s"] = time.perf_counter() - t0
        if not tissue.mask.any():
            raise SlideError(
                f"{path.name}: no tissue found ({config.tissue} threshold "
                f"{tissue.threshold:.0f}); check the slide, or use --tissue none / a lower "
                "--tissue-threshold"
            )
        w0, h0 = slide.dimensions
        candidates = grid_coords(w0, h0, geometry.patch_size_level0, geometry.step_level0)
        fraction = mask_fractions(tissue.mask, tissue.downsample, candidates, geometry.patch_size_level0)
        keep = fraction >= config.min_tissue
        coords, fraction = candidates[keep], fraction[keep]
        if len(coords) == 0:
            raise SlideError(
                f"{path.name}: no tile reaches --min-tissue {config.min_tissue} "
                f"({len(candidates)} candidate tiles of {geometry.patch_size_level0} level-0 px); "
                "lower --min-tissue or --tile-size"
            )
        timings["grid_s"] = time.perf_counter() - t0 - timings["thumbnail_and_tissue_s"]
        polygons = tissue_polygons(tissue)
        with atomic_dir(out_dir) as tmp, ThreadPoolExecutor(max_workers=1) as qc_writer:
            # The QC picture is drawn and PNG-encoded (GIL released) while the other files are written.
            qc_done = qc_writer.submit(_write_qc, tmp, thumb, thumb_ds, polygons, coords, geometry)
            write_tiles_h5(tmp / "tiles.h5", coords, fraction, geometry, path.stem, slide.level_dimensions)
            features = [
                polygon_feature(ext, holes, classification={"name": "Tissue", "color": [0, 170, 0]})
                for ext, holes in polygons
            ]
            write_feature_collection(tmp / "tissue.geojson", features)
            if config.save_tiles:
                t_export = time.perf_counter()
                _export_tiles(slide, coords, geometry, tmp / "tiles", config)
                timings["export_s"] = time.perf_counter() - t_export
            timings["total_s"] = time.perf_counter() - t0
            manifest = new_manifest("tile", params, inputs)
            manifest["slide"] = {
                "backend": slide.backend,
                "level_dimensions": slide.level_dimensions,
                "level_downsamples": slide.level_downsamples,
                "level0_mpp": level0_mpp,
                "mpp_source": "--slide-mpp" if config.slide_mpp else slide.metadata_mpp()[1],
            }
            manifest["geometry"] = geometry.__dict__
            manifest["tissue"] = {
                "method": tissue.method,
                "background": tissue.background,
                "threshold": tissue.threshold,
                "mask_shape": list(tissue.mask.shape),
                "tissue_fraction_of_slide": tissue.fraction,
                "polygons": len(polygons),
            }
            manifest["counts"] = {"candidate_tiles": len(candidates), "tiles": len(coords)}
            manifest["timings"] = timings
            manifest["warnings"] = tissue.warnings
            qc_done.result()
            write_json(tmp / "manifest.json", manifest)
    return TileResult(path, out_dir, "done", len(coords), warnings=tissue.warnings)


def _tile_one_safely(path: Path, config: TileConfig, out: Path) -> TileResult:
    """Batch wrapper: a bad slide becomes a failed result, never an exception."""
    try:
        return tile_slide(path, config, out)
    except PathsearchError as exc:
        return TileResult(path, None, "failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one slide's crash must not stop the batch
        return TileResult(path, None, "failed", error=f"{path.name}: unexpected {type(exc).__name__}: {exc}")


def tile_slides(
    paths: Sequence[Path | str],
    config: TileConfig | None = None,
    out: Path | str = ".",
    workers: int = 1,
    on_result: Callable[[TileResult], None] | None = None,
    scheduler: str | None = None,
) -> list[TileResult]:
    """Tile many slides, one Dask task each (in-process for one worker); failures are reported, not raised.

    Results come back in input order. A slide already done with the same parameters is skipped, so a
    killed batch resumes where it stopped; `out` is locked against a second run for the duration.
    """
    config = config or TileConfig()
    out = Path(out)
    slides = [Path(p) for p in paths]
    with output_lock(out):
        return run_batch(
            functools.partial(_tile_one_safely, config=config, out=out),
            slides,
            Cluster(scheduler, workers),
            failed=lambda path, why: TileResult(path, None, "failed", error=f"{path.name}: {why}"),
            names=[p.stem for p in slides],
            on_result=on_result,
        )
