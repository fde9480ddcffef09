"""One run per output folder: two runs writing the same slides would race on every rename."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from pathsearch.errors import PathsearchError


@contextlib.contextmanager
def output_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on `folder` itself; the kernel drops it when the process dies, even by kill -9.

    Locking the folder, not a file in it, leaves nothing behind for a user (or a resume) to trip over;
    a folder made here for a run that wrote nothing is removed again.
    """
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PathsearchError(
                f"{folder} is being written by another pathsearch run; wait for it to finish or use another -o folder"
            ) from None
        remove_stale_temps(folder)
        yield
    finally:
        os.close(fd)
        if created and not any(folder.iterdir()):
            folder.rmdir()


def remove_stale_temps(folder: Path) -> None:
    """Temp outputs of a killed run (`.NAME.XXXX.tmp`, see io.atomic) are never finished: drop them on resume."""
    for parent in (folder, *(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))):
        for tmp in parent.glob(".*.tmp"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
