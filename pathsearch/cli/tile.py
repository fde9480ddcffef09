"""`pathsearch tile SLIDE... -o OUT`: argument parsing only; the work is pathsearch.api.tile."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pathsearch.choices import TissueMethod
from pathsearch.cli.common import (
    SCHEDULER_HELP,
    WORKERS_HELP,
    progress_bar,
    stderr,
    summarise_batch,
    user_errors,
)
from pathsearch.config import load_tile_config

if TYPE_CHECKING:
    from pathsearch.api.tile import TileResult


@user_errors
def tile(
    slides: Annotated[list[Path], typer.Argument(help="Slide files (SVS, NDPI, MRXS, TIFF, DICOM, PNG...)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder; one subfolder per slide")],
    config: Annotated[
        Path | None, typer.Option(help="YAML preset, e.g. wsi_configs/default-20x-224.yaml")
    ] = None,
    target_mpp: Annotated[float | None, typer.Option(help="Tile resolution in um/px (default 0.5)")] = None,
    magnification: Annotated[
        float | None, typer.Option(help="Tile resolution as objective power (20 = 0.5 um/px)")
    ] = None,
    tile_size: Annotated[
        int | None, typer.Option(help="Tile side in px at the target resolution (default 224)")
    ] = None,
    overlap: Annotated[
        int | None, typer.Option(help="Overlap between tiles in px at the target resolution (default 0)")
    ] = None,
    min_tissue: Annotated[float | None, typer.Option(help="Minimum tissue fraction per tile (default 0.5)")] = None,
    tissue: Annotated[
        TissueMethod | None, typer.Option(help="Tissue detection: otsu, threshold or none (default otsu)")
    ] = None,
    tissue_threshold: Annotated[
        float | None, typer.Option(help="Signal floor/threshold on 0-255 (default 20)")
    ] = None,
    slide_mpp: Annotated[float | None, typer.Option(help="Override the slide's level-0 um/px")] = None,
    save_tiles: Annotated[str | None, typer.Option(help="Also write tile images: png or jpg")] = None,
    workers: Annotated[int, typer.Option(min=1, help=WORKERS_HELP)] = 1,
    scheduler: Annotated[str | None, typer.Option(help=SCHEDULER_HELP)] = None,
) -> None:
    """Detect tissue and write tile coordinates (tiles.h5), tissue.geojson, thumbnail.png, manifest.json."""
    from pathsearch.api.tile import tile_slides

    cfg = load_tile_config(
        config,
        target_mpp=target_mpp,
        magnification=magnification,
        tile_size=tile_size,
        overlap=overlap,
        min_tissue=min_tissue,
        tissue=tissue,
        tissue_threshold=tissue_threshold,
        slide_mpp=slide_mpp,
        save_tiles=save_tiles,
    )
    with progress_bar() as progress:
        task = progress.add_task("tiling", total=len(slides))

        def report(result: TileResult) -> None:
            progress.advance(task)
            for warning in result.warnings:
                stderr.print(f"[yellow]warning:[/yellow] {result.slide.name}: {warning}")
            if result.status == "done":
                progress.console.print(f"{result.slide.name}: {result.n_tiles} tiles -> {result.out_dir}")
            elif result.status == "skipped":
                progress.console.print(f"{result.slide.name}: up to date, skipped ({result.out_dir})")

        results = tile_slides(slides, cfg, out, workers=workers, on_result=report, scheduler=scheduler)
    summarise_batch(results, "tiled")
