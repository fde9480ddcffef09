"""The `pathsearch` command; each subcommand lives in its own module.

Command modules import their API inside the command function, so `pathsearch --help` and argument
errors do not wait for torch, faiss and OpenCV to load (tests/test_cli_startup.py keeps it so)."""

from __future__ import annotations

import typer

from pathsearch.cli.bank import app as bank_app
from pathsearch.cli.classify import classify
from pathsearch.cli.embed import embed
from pathsearch.cli.eval import app as eval_app
from pathsearch.cli.search import search
from pathsearch.cli.segment import segment
from pathsearch.cli.tile import tile

app = typer.Typer(
    name="pathsearch",
    help="Whole-slide tiling, foundation-model embeddings and STHLM generative vector search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(tile)
app.command()(embed)
app.command()(classify)
app.command()(segment)
app.command()(search)
app.add_typer(eval_app, name="eval")
app.add_typer(bank_app, name="bank")


@app.callback()
def main() -> None:
    """Tile slides, embed tiles, search reference banks, classify and segment from few shots."""


if __name__ == "__main__":
    app()
