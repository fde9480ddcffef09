"""What every command shares: one-line errors on stderr and a progress bar."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import ParamSpec, Protocol, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pathsearch.errors import PathsearchError

HEAD_HELP = "knn: votes of the nearest support tiles; linear: a class-balanced logistic-regression probe"
LABEL_ID_HELP = "QuPath label images are STEM<label-id>.ext (its labeledImageId), or the same stem with another extension"
WORKERS_HELP = "Slides processed in parallel: N > 1 starts a local Dask cluster of N worker processes"
SCHEDULER_HELP = "An existing Dask cluster's scheduler, tcp://HOST:PORT (workers must see the same files)"
P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    stderr.print(f"[red]error:[/red] {message}", markup=True)
    return typer.Exit(code)


def user_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn PathsearchError into one line and exit 1: users never see our tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except PathsearchError as exc:
            raise fail(str(exc)) from None

    return wrapper


def progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=False,
    )


class BatchItem(Protocol):
    status: str  # "done", "skipped" or "failed"
    error: str


def summarise_batch(results: Sequence[BatchItem], verb: str) -> None:
    """The batch contract: counts, then each failure on its own line, and exit 1 if anything failed."""
    failed = [r for r in results if r.status == "failed"]
    done = sum(r.status == "done" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    stderr.print(f"{done} {verb}, {skipped} skipped, {len(failed)} failed")
    for r in failed:
        stderr.print(f"[red]error:[/red] {r.error}")
    if failed:
        raise typer.Exit(1)
