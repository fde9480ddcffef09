"""`pathsearch embed INPUT -o OUT --model NAME`: parsing only; the work is pathsearch.api.embed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pathsearch.cli.common import progress_bar, stderr, user_errors


@user_errors
def embed(
    input_path: Annotated[
        Path, typer.Argument(help="Tile set from `pathsearch tile` (OUT/<slide>) or a folder of tiles")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder for features.h5")],
    model: Annotated[
        str, typer.Option(help="he-texture, pathgen-clip, pathgen-clip-l, open_clip:ARCH, timm:NAME")
    ] = "he-texture",
    weights: Annotated[Path | None, typer.Option(help="Checkpoint: safetensors or torch state dict")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes")] = 2,
    half: Annotated[bool, typer.Option("--half", help="Store float16 features")] = False,
) -> None:
    """Embed tiles with a foundation model or the weights-free he-texture encoder."""
    from pathsearch.api.embed import embed as run_embed

    with progress_bar() as progress:
        task = progress.add_task(f"embedding ({model})", total=None)
        target = run_embed(
            input_path,
            out,
            model,
            weights,
            batch_size,
            device,
            workers,
            half,
            on_start=lambda n: progress.update(task, total=n),
            on_batch=lambda n: progress.advance(task, n),
        )
    stderr.print(f"features -> {target}")
