"""Run the CLI as a user does, in a subprocess, and check its error contract."""

import subprocess
import sys


def run_cli(*args, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "pathsearch.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(proc, *needles):
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert errors, proc.stderr
    for needle in needles:
        assert any(needle in e for e in errors), proc.stderr
