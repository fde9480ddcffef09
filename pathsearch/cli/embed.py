"""`pathsearch embed INPUT... -o OUT --model NAME`: parsing only; the work is pathsearch.api.embed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pathsearch.cli.common import (
    SCHEDULER_HELP,
    WORKERS_HELP,
    progress_bar,
    stderr,
    summarise_batch,
    user_errors,
)

if TYPE_CHECKING:
    from pathsearch.api.embed import EmbedResult


@user_errors
def embed(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Tile sets from `pathsearch tile` (OUT/<slide>, or OUT itself for all of them) or a folder of tiles"
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder: features.h5, or one subfolder per tile set")
    ],
    model: Annotated[
        str, typer.Option(help="he-texture, pathgen-clip, pathgen-clip-l, open_clip:ARCH, timm:NAME")
    ] = "he-texture",
    weights: Annotated[Path | None, typer.Option(help="Checkpoint: safetensors or torch state dict")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    device: Annotated[str, typer.Option(help="cpu or cuda")] = "cpu",
    loader_workers: Annotated[
        int | None,
        typer.Option(min=0, help="DataLoader processes decoding tiles (in-process runs only; default 0 on cpu, 2 on cuda)"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help=WORKERS_HELP)] = 1,
    scheduler: Annotated[str | None, typer.Option(help=SCHEDULER_HELP)] = None,
    half: Annotated[bool, typer.Option("--half", help="Store float16 features")] = False,
) -> None:
    """Embed tiles with a foundation model or the weights-free he-texture encoder."""
    from pathsearch.api.embed import (
        EmbedSettings,
        cohort_inputs,
        default_loader_workers,
        embed_cohort,
        embed_set,
    )

    loaders = default_loader_workers(device) if loader_workers is None else loader_workers
    settings = EmbedSettings(model, weights, batch_size, device, loaders, half)
    cohort = cohort_inputs(inputs)
    if cohort is None:
        with progress_bar() as progress:
            task = progress.add_task(f"embedding ({model})", total=None)
            result = embed_set(
                inputs[0],
                out,
                settings,
                on_start=lambda n: progress.update(task, total=n),
                on_batch=lambda n: progress.advance(task, n),
            )
        stderr.print(f"features -> {result.target}")
        return
    with progress_bar() as progress:
        task = progress.add_task(f"embedding ({model})", total=len(cohort))

        def report(result: EmbedResult) -> None:
            progress.advance(task)
            if result.status == "done":
                progress.console.print(f"{result.input.name}: {result.tiles} tiles -> {result.target}")
            elif result.status == "skipped":
                progress.console.print(f"{result.input.name}: up to date, skipped ({result.target})")

        results = embed_cohort(cohort, out, settings, workers, scheduler, on_result=report)
    summarise_batch(results, "embedded")
