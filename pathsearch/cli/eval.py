"""`pathsearch eval retrieval|segmentation`: parsing and printing only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pathsearch.choices import CHECK_EVERY, LONG_EPOCHS
from pathsearch.cli.common import progress_bar, stderr, user_errors
from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import write_json

if TYPE_CHECKING:
    from pathsearch.eval.dev_choice import DevChoice
    from pathsearch.sthlm.train import EpochCallback

app = typer.Typer(help="Evaluate retrieval (plain k-NN vs STHLM vs control) or segmentation masks.", no_args_is_help=True)


def parse_samples(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise PathsearchError(f"--samples '{text}' must be comma-separated integers, e.g. 0,1,5,10") from None
    if not values or min(values) < 0:
        raise PathsearchError(f"--samples '{text}' needs at least one count, none negative")
    return values


@app.command()
@user_errors
def retrieval(
    dataset: Annotated[
        Path,
        typer.Argument(help="Folder with corpus.npy, queries.npy, *_ids.txt and qrels/; or a labelled features.h5 (tiles)"),
    ],
    split: Annotated[str, typer.Option(help="qrels split to evaluate (never used for any choice)")] = "test",
    train_split: Annotated[str, typer.Option(help="qrels split STHLM and the control train on")] = "train",
    samples: Annotated[str, typer.Option(help="Sample counts N for the sweep; 0 is plain k-NN")] = "0,1,5,10,20,50",
    pca_dim: Annotated[int | None, typer.Option(min=1, help="Reduce the bank with PCA to this dimension")] = None,
    seed: Annotated[int, typer.Option(help="Seed for training")] = 0,
    max_epochs: Annotated[
        int, typer.Option(min=CHECK_EVERY, help="Longest training the dev part may choose; lower it to bound the run time")
    ] = LONG_EPOCHS,
    folds: Annotated[int, typer.Option(min=2, help="Tiles only: folds, each searching a bank of the others")] = 4,
    seeds: Annotated[int, typer.Option(min=1, help="Tiles only: repeats of the whole protocol, for the spread")] = 5,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results here")] = None,
) -> None:
    """Compare plain k-NN, STHLM generative search and a same-size non-generative control.

    Text qrels (a folder) or class-level tile retrieval (a labelled features.h5: every bank tile of the
    query's class is relevant; the split, PCA and epoch options are for text)."""
    from pathsearch.api.retrieval import evaluate_retrieval, retrieval_train_config

    sweep = parse_samples(samples)
    if dataset.suffix == ".h5":
        _tile_retrieval(dataset, sweep, folds, seeds, json_out)
        return
    config = retrieval_train_config(seed)
    with progress_bar() as progress:
        result = evaluate_retrieval(
            dataset, split, train_split, sweep, pca_dim, config, _epoch_bar(progress), _print_choice, max_epochs, json_out
        )
    _print_table(result)
    if json_out is not None:
        stderr.print(f"results -> {json_out} (parameters, inputs and versions in {json_out.stem}.manifest.json)")


@app.command()
@user_errors
def segmentation(
    pred: Annotated[Path, typer.Argument(help="Folder of predicted '*-labelled.png' masks")],
    gt: Annotated[Path, typer.Argument(help="Folder of ground-truth '*-labelled.png' masks")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the results here")] = None,
) -> None:
    """Dice and IoU per class, per image and averaged; files are matched by stem."""
    from pathsearch.eval.segmentation import evaluate_segmentation

    result = evaluate_segmentation(pred, gt)
    if json_out is not None:
        write_json(json_out, result)
    table = Table(title=f"segmentation ({result['images']} images)")
    for column in ("class", "mean dice", "mean iou"):
        table.add_column(column)
    for cls, row in result["mean"].items():
        table.add_row(cls, f"{row['dice']:.4f}", f"{row['iou']:.4f}")
    Console().print(table)


def _print_choice(arm: str, choice: DevChoice) -> None:
    stderr.print(
        f"{arm}: {choice.epochs} epochs, query weight {choice.query_weight} inside the support gate (plain "
        f"search outside), dev NDCG@10 {choice.ndcg:.4f}; "
        + ("plain search chosen, so no retraining" if choice.plain else "retraining on every training query")
    )


def _epoch_bar(progress: Any) -> Callable[[str, int], EpochCallback]:
    def start(name: str, max_epochs: int) -> EpochCallback:
        task = progress.add_task(f"training {name}", total=max_epochs)

        def advance(epoch: int, train_loss: float, val_loss: float) -> None:
            progress.update(task, completed=epoch + 1, description=f"training {name} (val loss {val_loss:.4f})")

        return advance

    return start


def _print_table(result: dict[str, Any]) -> None:
    table = Table(title=f"retrieval on split '{result['split']}' ({result['queries']} queries)")
    for column in ("arm", "N", "ndcg@10", "recall@100", "mrr@10", "ms/query", "seen ndcg", "unseen ndcg"):
        table.add_column(column, justify="right" if column != "arm" else "left")
    seen, unseen = result["breakdown"]["seen"], result["breakdown"]["unseen"]
    for arm, n in (("baseline", "0"), ("sthlm", str(result["sthlm"]["N"])), ("control", "-")):
        row = result[arm]
        table.add_row(
            arm, n, *(f"{row[m]:.4f}" for m in ("ndcg@10", "recall@100", "mrr@10")), f"{row['ms_per_query']:.2f}",
            f"{seen[arm]:.4f}", f"{unseen[arm]:.4f}",
        )
    for row in result["sweep"]:
        table.add_row(
            "sweep", str(row["N"]), *(f"{row[m]:.4f}" for m in ("ndcg@10", "recall@100", "mrr@10")),
            f"{row['ms_per_query']:.2f}", "", "",
        )
    Console().print(table)


def _tile_retrieval(features_h5: Path, sweep: list[int], folds: int, seeds: int, json_out: Path | None) -> None:
    from pathsearch.api.tile_retrieval import evaluate_tile_retrieval

    with progress_bar() as progress:
        task = progress.add_task(f"{folds} folds x {seeds} seeds", total=folds * seeds)
        result = evaluate_tile_retrieval(features_h5, sweep, folds, seeds, json_out, lambda done, _: progress.update(task, completed=done))
    metrics = [m for m in result["baseline"] if not m.endswith("_sd")]
    table = Table(title=f"class-level tile retrieval, {result['split']} ({result['queries']} queries; mean ± sd over seeds)")
    for column in ("arm", "N", *metrics, "sample spread"):
        table.add_column(column, justify="right" if column != "arm" else "left")
    rows = [("baseline", "0", result["baseline"]), ("sthlm", str(result["sthlm"]["N"]), result["sthlm"]), ("control", "-", result["control"])]
    rows += [("sweep", str(row["N"]), row) for row in result["sweep"]]
    for arm, n, row in rows:
        spread = f"{row['sample_spread']:.3f}" if "sample_spread" in row else ""
        table.add_row(arm, n, *(f"{row[m]:.3f} ± {row[m + '_sd']:.3f}" for m in metrics), spread)
    Console().print(table)
    if json_out is not None:
        stderr.print(f"results -> {json_out} (parameters, inputs and versions in {json_out.stem}.manifest.json)")
