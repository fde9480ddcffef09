"""CLI start-up: `pathsearch --help` and a usage error, against a Python that only imports typer and rich.

The floor is what any Typer CLI pays; the rest is what pathsearch loads before parsing arguments.
Pass --source DIR to time another checkout's CLI with this venv (e.g. an older commit).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from timing import median_s


def _median_s(args: list[str], source: Path, runs: int) -> float:
    # Run from the checkout: `python -m` puts the working folder first on sys.path.
    return median_s(lambda: subprocess.run(args, cwd=source, capture_output=True, check=False), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    cli = [sys.executable, "-m", "pathsearch.cli.main"]
    floor = _median_s([sys.executable, "-c", "import typer, rich"], args.source, args.runs)
    print(f"source {args.source}, median of {args.runs} runs; floor (python + typer + rich): {floor:.2f} s")
    print("| command | s | / floor |")
    print("|---|---|---|")
    for name, extra in (("pathsearch --help", ["--help"]), ("pathsearch tile (usage error)", ["tile"])):
        seconds = _median_s(cli + extra, args.source, args.runs)
        print(f"| {name} | {seconds:.2f} | {seconds / floor:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
