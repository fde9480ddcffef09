"""One task per item on Dask distributed: an existing cluster, a local one we start, or in-process.

Tasks never raise for a bad item (they return a failed result). What can still fail is the cluster:
a worker that dies is retried elsewhere by the scheduler, and an item that keeps killing workers comes
back as one failed result instead of stopping the batch.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from pathsearch.errors import PathsearchError

if TYPE_CHECKING:
    from distributed import Client

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Cluster:
    """Where a batch runs: `scheduler` is an existing cluster's address (tcp://HOST:PORT); else `workers`
    local worker processes, or the calling process itself when that is 1."""

    scheduler: str | None = None
    workers: int = 1

    @property
    def serial(self) -> bool:
        return self.scheduler is None and self.workers <= 1


def run_batch(
    task: Callable[[T], R],
    items: Sequence[T],
    where: Cluster,
    failed: Callable[[T, str], R],
    names: Sequence[str],
    on_result: Callable[[R], None] | None = None,
) -> list[R]:
    """Results in input order; `on_result` sees each as it finishes.

    `names` are the items' output folder names: an item whose name an earlier one takes is not run.
    `failed(item, why)` stands in for such an item and for one whose task never came back.
    """
    results: dict[int, R] = {}

    def record(i: int, result: R) -> None:
        results[i] = result
        if on_result:
            on_result(result)

    for i, why in name_clashes(items, names).items():
        record(i, failed(items[i], why))
    todo = [i for i in range(len(items)) if i not in results]
    if where.serial:
        for i in todo:
            record(i, task(items[i]))
    elif todo:
        with dask_client(where) as client:
            for i, result in _on_cluster(client, task, items, todo, names, failed):
                record(i, result)
    return [results[i] for i in range(len(items))]


def _on_cluster(
    client: Client,
    task: Callable[[T], R],
    items: Sequence[T],
    todo: list[int],
    names: Sequence[str],
    failed: Callable[[T, str], R],
) -> Iterator[tuple[int, R]]:
    """(index, result) as tasks finish, never more in flight than the cluster has threads.

    Dask hands a worker more tasks than it has threads, and when a worker dies every task it held counts
    as a suspect: one slide that crashes its reader would then take innocent slides down with it after
    `allowed-failures` deaths. Feeding tasks one free thread at a time keeps each death on its own slide.
    """
    from distributed import as_completed

    run_id = uuid.uuid4().hex[:8]
    waiting = iter(todo)
    position: dict[str, int] = {}
    running = as_completed()

    def fill() -> None:
        capacity = max(1, sum(client.nthreads().values()))
        while running.count() < capacity and (i := next(waiting, None)) is not None:
            future = client.submit(task, items[i], key=f"pathsearch-{names[i]}-{run_id}", pure=False)
            position[future.key] = i
            running.add(future)

    fill()
    for future in running:
        i = position.pop(future.key)
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost task is one failed item, not a failed batch
            result = failed(items[i], f"its task was lost ({type(exc).__name__}: {exc})")
        future.release()
        yield i, result
        fill()


@contextlib.contextmanager
def dask_client(where: Cluster) -> Iterator[Client]:
    import dask
    from distributed import Client, LocalCluster

    # The scheduler's lifecycle chatter is not for users; warnings (a worker lost, a task retried) still show.
    logging.getLogger("distributed").setLevel(logging.WARNING)
    if where.scheduler is not None:
        try:
            client = Client(where.scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise PathsearchError(
                f"--scheduler {where.scheduler}: no Dask scheduler answered ({exc}); "
                "start one with `dask scheduler` and `dask worker`, or leave --scheduler out"
            ) from None
        with client:
            yield client
        return
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_ in its workers, which turns off glibc's adaptive mmap
    # threshold: every large numpy temporary is then mapped and unmapped again, and he-texture embedding ran
    # 1.3-1.4x slower per tile (BENCHMARKS.md). Our workers keep glibc's default.
    with (
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}),
        LocalCluster(
            n_workers=where.workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def name_clashes(items: Sequence[object], names: Sequence[str]) -> dict[int, str]:
    """Items whose output folder an earlier item already takes (same file name): index -> one-line reason."""
    first: dict[str, int] = {}
    clashes = {}
    for i, name in enumerate(names):
        if name in first:
            clashes[i] = (
                f"output name {name!r} clashes with {items[first[name]]}; "
                "run inputs with the same file name into different -o folders"
            )
        else:
            first[name] = i
    return clashes
