"""`pathsearch classify --few-shot SUPPORT QUERY -o OUT`: parsing only; the work is pathsearch.api.classify."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pathsearch.choices import Head
from pathsearch.cli.common import HEAD_HELP, LABEL_ID_HELP, stderr, user_errors
from pathsearch.config import load_tile_config
from pathsearch.io.exports import MASK_SUFFIX


@user_errors
def classify(
    query: Annotated[Path, typer.Argument(help="A slide, a tile set from `pathsearch tile`, or a tile folder")],
    few_shot: Annotated[
        Path,
        typer.Option("--few-shot", help="Support: class-subfolder tiles, a QuPath tile export, a QuPath GeoJSON, or labelled features.h5"),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder")],
    model: Annotated[str, typer.Option(help="Encoder: he-texture, pathgen-clip, open_clip:ARCH, timm:NAME")] = "he-texture",
    weights: Annotated[Path | None, typer.Option(help="Encoder checkpoint")] = None,
    support_slide: Annotated[Path | None, typer.Option(help="Slide the GeoJSON support is drawn on (default the query slide)")] = None,
    samples: Annotated[int, typer.Option(min=0, help="STHLM samples per query; 0 = plain k-NN")] = 10,
    k: Annotated[int, typer.Option(min=1, help="Neighbours per probe (support views count as neighbours)")] = 1,
    head: Annotated[Head, typer.Option(help=HEAD_HELP)] = "knn",
    pca_dim: Annotated[int | None, typer.Option(min=1, help="PCA dimension of the support bank")] = None,
    similarity_weighted: Annotated[bool, typer.Option(help="Weight votes by cosine similarity")] = True,
    config: Annotated[Path | None, typer.Option(help="Tiling preset YAML for slide queries")] = None,
    slide_mpp: Annotated[float | None, typer.Option(help="Override the slide's level-0 um/px")] = None,
    seed: Annotated[int, typer.Option(help="Seed for augmentation and STHLM training")] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader workers for query tiles")] = 0,
    label_id: Annotated[str, typer.Option(help=LABEL_ID_HELP)] = MASK_SUFFIX,
) -> None:
    """Classify every query tile from a few labelled support tiles (STHLM-pooled k-NN votes)."""
    from pathsearch.api.classify import classify as run_classify
    from pathsearch.heads.classify import FewShotConfig

    few = FewShotConfig(samples=samples, k=k, head=head, pca_dim=pca_dim, similarity_weighted=similarity_weighted, seed=seed)
    result = run_classify(
        few_shot, query, out, model, weights, support_slide, load_tile_config(config, slide_mpp=slide_mpp), few,
        batch_size, workers, on_step=lambda msg: stderr.print(f"[dim]{msg}…[/dim]"), label_id=label_id,
    )
    stderr.print(f"{result.tiles} tiles classified:")
    for name, row in result.summary.items():
        stderr.print(f"  {name:<20} {row['tiles']:>6} tiles  {100 * row['fraction']:5.1f}%")
    for kind, path in result.files.items():
        stderr.print(f"{kind:<20} -> {path}")
