"""What every command shares: one-line errors on stderr and a progress bar."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pathsearch.errors import PathsearchError

HEAD_HELP = "knn: votes of the nearest support tiles; linear: a class-balanced logistic-regression probe"
LABEL_ID_HELP = "QuPath label images are STEM<label-id>.ext (its labeledImageId), or the same stem with another extension"
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
