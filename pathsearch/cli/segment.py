"""`pathsearch segment --few-shot SUPPORT QUERY -o OUT`: parsing only; the work is pathsearch.api.segment."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pathsearch.choices import Head, PixelColour
from pathsearch.cli.common import HEAD_HELP, LABEL_ID_HELP, progress_bar, stderr, user_errors
from pathsearch.errors import PathsearchError
from pathsearch.io.exports import MASK_SUFFIX


@user_errors
def segment(
    query: Annotated[
        Path, typer.Argument(help="An image, a folder of images (QuPath export layout or plain), or a slide with --region")
    ],
    few_shot: Annotated[Path, typer.Option("--few-shot", help="QuPath export folder: images with -labelled masks")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder")],
    model: Annotated[str, typer.Option(help="Encoder for patch embeddings")] = "he-texture",
    weights: Annotated[Path | None, typer.Option(help="Encoder checkpoint")] = None,
    patch_px: Annotated[int, typer.Option(min=8, help="Patch side in image px")] = 96,
    stride_px: Annotated[int, typer.Option(min=1, help="Patch grid step in image px")] = 32,
    samples: Annotated[int, typer.Option(min=0, help="STHLM samples per patch; 0 = plain k-NN")] = 10,
    k: Annotated[int, typer.Option(min=1)] = 3,
    head: Annotated[Head, typer.Option(help=HEAD_HELP)] = "linear",
    pixel_forest: Annotated[
        bool, typer.Option(help="Average the patch votes with a random forest on multi-scale pixel filters")
    ] = True,
    pixel_colour: Annotated[
        PixelColour,
        typer.Option(help="The forest's colour input: Lab z-scored per image (cancels stain shift between slides) or raw RGB"),
    ] = "lab-standardised",
    min_region_px: Annotated[int, typer.Option(min=0, help="Class regions smaller than this (image px) are merged away")] = 2000,
    refine: Annotated[bool, typer.Option("--refine", help="Train a U-Net on support + confident votes")] = False,
    refine_iterations: Annotated[int, typer.Option(min=1)] = 300,
    seed: Annotated[int, typer.Option()] = 0,
    region: Annotated[str | None, typer.Option(help="X,Y,W,H in level-0 px: segment this box of the slide QUERY")] = None,
    region_downsample: Annotated[
        float | None, typer.Option(min=1.0, help="Level-0 px per px for --region (default: the support export's d=, else 1)")
    ] = None,
    block_px: Annotated[
        int, typer.Option(min=64, help="With --region: side of the blocks it is streamed in (px); memory grows with its square")
    ] = 1024,
    label_id: Annotated[str, typer.Option(help=LABEL_ID_HELP)] = MASK_SUFFIX,
) -> None:
    """Segment tissue classes from a few labelled images: dense patch votes and a pixel forest, optionally refined."""
    from pathsearch.api.segment import SlideRegion
    from pathsearch.api.segment import segment as run_segment
    from pathsearch.heads.pixels import PixelForestConfig
    from pathsearch.heads.refine import RefineConfig
    from pathsearch.heads.segment import SegmentConfig

    voting = SegmentConfig().few_shot.model_copy(update={"samples": samples, "k": k, "head": head, "seed": seed})
    forest = PixelForestConfig(colour=pixel_colour, seed=seed) if pixel_forest else None
    config = SegmentConfig(
        patch_px=patch_px, stride_px=stride_px, few_shot=voting, pixel_forest=forest, min_region_px=min_region_px
    )
    refine_config = RefineConfig(iterations=refine_iterations, seed=seed) if refine else None
    with progress_bar() as progress:
        task = progress.add_task("segmenting blocks" if region else "segmenting", total=None)
        result = run_segment(
            few_shot, query, out, model, weights, config, refine_config,
            on_image=lambda done, total: progress.update(task, completed=done, total=total),
            region=SlideRegion(parse_box(region), region_downsample) if region else None, label_id=label_id,
            block_px=block_px,
        )
    stderr.print(f"{len(result.masks)} label masks, overlays and GeoJSON -> {result.out_dir}")
    for why in result.failed.values():
        stderr.print(f"[red]error:[/red] {why}")
    if result.failed:
        raise typer.Exit(1)


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise PathsearchError(f"--region '{text}' must be four integers X,Y,W,H in level-0 px, e.g. 10000,8000,2000,1500") from None
    return x, y, w, h
