"""`pathsearch bank build FEATURES_H5... -o BANK`: parsing only; the work is pathsearch.bank.build."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pathsearch.choices import IndexKind
from pathsearch.cli.common import progress_bar, stderr, user_errors

app = typer.Typer(help="Build reference banks from many slides' features.", no_args_is_help=True)


@app.command()
@user_errors
def build(
    features: Annotated[list[Path], typer.Argument(help="features.h5 files from `pathsearch embed`, or folders holding them")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Bank folder to write (for `pathsearch search --bank`)")],
    index: Annotated[IndexKind, typer.Option(help="flat (exact), ivf, ivfpq (compressed) or hnsw")] = "flat",
    pca_dim: Annotated[int | None, typer.Option(min=1, help="PCA dimension, fitted on a sample of the inputs")] = None,
    nlist: Annotated[int, typer.Option(min=1, help="IVF lists")] = 1024,
    nprobe: Annotated[int, typer.Option(min=1, help="IVF lists searched per query")] = 32,
    ef_search: Annotated[int, typer.Option(min=1, help="HNSW candidates per query (recall against speed)")] = 64,
    pq_m: Annotated[int | None, typer.Option(min=1, help="IVF-PQ sub-quantizers (default: dimension / 4)")] = None,
    shard_rows: Annotated[int, typer.Option(min=1, help="Rows read and added at a time (bounds memory)")] = 65_536,
) -> None:
    """One faiss bank from many slides, added in shards, keeping each tile's slide and level-0 position."""
    from pathsearch.bank.bank import BankConfig
    from pathsearch.bank.build import build_bank, find_features

    files = find_features(features)
    config = BankConfig(index=index, pca_dim=pca_dim, nlist=nlist, nprobe=nprobe, ef_search=ef_search, pq_m=pq_m)
    with progress_bar() as progress:
        task = progress.add_task("adding tiles", total=None)
        result = build_bank(files, out, config, shard_rows, on_rows=lambda n: progress.advance(task, n))
    stderr.print(f"{result.count} tiles from {result.sources} feature files -> {result.out_dir} ({result.dim}-d, {index})")
