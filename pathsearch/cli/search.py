"""`pathsearch search QUERY --bank REF -o OUT`: parsing only; the work is pathsearch.api.search."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pathsearch.choices import IndexKind
from pathsearch.cli.common import stderr, user_errors


@user_errors
def search(
    query: Annotated[Path, typer.Argument(help="Query features.h5 from `pathsearch embed`")],
    bank: Annotated[
        Path, typer.Option("--bank", help="Reference: a bank folder (OUT/bank of an earlier search) or a features.h5")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder")],
    k: Annotated[int, typer.Option(min=1, help="Matches per query")] = 10,
    samples: Annotated[
        int, typer.Option(min=0, help="STHLM samples per query; 0 = plain k-NN. Needs a labelled bank or --sthlm")
    ] = 0,
    sthlm: Annotated[Path | None, typer.Option(help="STHLM checkpoint folder (else trained on the bank's labels)")] = None,
    pca_dim: Annotated[int | None, typer.Option(min=1, help="PCA dimension when the bank is built from features.h5")] = None,
    index: Annotated[IndexKind, typer.Option(help="faiss index when the bank is built: exact flat, or ivf/hnsw for large banks")] = "flat",
    seed: Annotated[int, typer.Option(help="Seed for STHLM training and sampling")] = 0,
    show: Annotated[int, typer.Option(min=0, help="Queries drawn with their hits in hits.png (0: no picture)")] = 8,
) -> None:
    """Find the reference tiles most similar to each query tile (plain k-NN or STHLM generative search)."""
    from pathsearch.api.search import search as run_search
    from pathsearch.bank.bank import BankConfig

    result = run_search(
        query, bank, out, k, samples, sthlm, BankConfig(index=index, pca_dim=pca_dim), seed,
        on_step=lambda msg: stderr.print(f"[dim]{msg}…[/dim]"), show=show,
    )
    stderr.print(f"{result.queries} queries searched")
    for kind, path in result.files.items():
        stderr.print(f"{kind:<16} -> {path}")
