"""Cohort runs on Dask with real processes: a scheduler and two workers on 127.0.0.1, a worker killed
with SIGKILL mid-task, a whole run killed and resumed, a second run refused, bad slides listed."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from distributed import Client
from PIL import Image

from pathsearch.api.embed import EmbedSettings, embed_cohort
from pathsearch.api.tile import tile_slides
from pathsearch.cohort.runner import Cluster, run_batch
from pathsearch.config import TileConfig
from pathsearch.io.lock import output_lock
from tests.cli import assert_one_line_error, run_cli
from tests.synthetic import tissue_image, write_svs

N_SLIDES = 6
# Every tile kept and saved as PNG: about a second of work per slide, long enough to kill a run mid-way.
TILE_ARGS = ["--min-tissue", "0", "--save-tiles", "png"]
CONFIG = TileConfig(min_tissue=0.0, save_tiles="png")
# Embedding is the slow part (he-texture, ~10 tiles/s here): embed tests use 6 coarse tiles per slide.
COARSE_ARGS = ["--min-tissue", "0", "--target-mpp", "4"]
COARSE = TileConfig(min_tissue=0.0, target_mpp=4.0)


@pytest.fixture(scope="module")
def slides(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("cohort")
    paths = []
    for i in range(N_SLIDES):
        img = tissue_image(6144, 4096, [(300 + 100 * i, 200, 4000, 3000), (4600, 500 + 50 * i, 1200, 3000)])
        paths.append(write_svs(folder / f"slide{i}.svs", img))
    return paths


@pytest.fixture(scope="module")
def serial(slides, tmp_path_factory) -> Path:
    """The reference: the same cohort tiled and embedded in this process, one slide after another."""
    out = tmp_path_factory.mktemp("serial")
    assert all(r.status == "done" for r in tile_slides(slides, CONFIG, out / "tiles"))
    assert all(r.status == "done" for r in tile_slides(slides, COARSE, out / "coarse"))
    tile_sets = [out / "coarse" / p.stem for p in slides]
    assert all(r.status == "done" for r in embed_cohort(tile_sets, out / "emb", EmbedSettings()))
    return out


def _spawn(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs
    )


def _wait_for(condition, timeout: float = 120, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes (no nanny, so SIGKILL really kills a worker)."""
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = _spawn(
        "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
        "--scheduler-file", str(scheduler_file),
    )  # fmt: skip
    _wait_for(scheduler_file.exists, 60, "the scheduler file")
    address = json.loads(scheduler_file.read_text())["address"]
    workers = {
        name: _spawn(
            "-m", "dask", "worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
            "--no-dashboard", "--host", "127.0.0.1",
        )  # fmt: skip
        for name in ("w1", "w2")
    }
    client = Client(address, timeout="30s")
    try:
        _wait_for(lambda: len(client.scheduler_info()["workers"]) == 2, 60, "two workers")
        yield address, client, workers
    finally:
        client.close()
        for proc in (*workers.values(), scheduler):
            proc.kill()
            proc.communicate()


def _h5_content(path: Path) -> dict:
    """Every dataset and attribute of an HDF5 file, for comparing runs by content."""
    content = {}
    with h5py.File(path) as f:
        content["/"] = {k: np.asarray(v).tolist() for k, v in f.attrs.items()}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                content[name] = (obj[()].tolist(), {k: np.asarray(v).tolist() for k, v in obj.attrs.items()})

        f.visititems(visit)
    return content


def _assert_same_tiles(a: Path, b: Path) -> None:
    assert _h5_content(a / "tiles.h5") == _h5_content(b / "tiles.h5")
    assert (a / "tissue.geojson").read_bytes() == (b / "tissue.geojson").read_bytes()
    tiles_a, tiles_b = sorted((a / "tiles").iterdir()), sorted((b / "tiles").iterdir())
    assert [p.name for p in tiles_a] == [p.name for p in tiles_b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(tiles_a, tiles_b, strict=True))


def _assert_same_features(a: Path, b: Path) -> None:
    content_a, content_b = _h5_content(a), _h5_content(b)
    source_a, source_b = content_a["/"].pop("source"), content_b["/"].pop("source")
    assert Path(source_a).name == Path(source_b).name  # the tile set's own folder differs between runs
    assert content_a == content_b


def _worker_busy(client: Client, name: str) -> bool:
    by_name = {info["name"]: address for address, info in client.scheduler_info()["workers"].items()}
    return bool(client.processing().get(by_name.get(name), ()))


def test_scheduler_run_survives_a_killed_worker_and_matches_serial(slides, serial, dask_cluster, tmp_path):
    address, client, workers = dask_cluster
    out = tmp_path / "tiles"
    run = _spawn("-m", "pathsearch.cli.main", "tile", *map(str, slides), "-o", str(out), "--scheduler", address, *TILE_ARGS)
    _wait_for(lambda: _worker_busy(client, "w1"), 120, "worker w1 to take a slide")
    workers["w1"].send_signal(signal.SIGKILL)
    assert workers["w1"].wait(10) == -signal.SIGKILL
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 0, stderr
    assert f"{N_SLIDES} tiled, 0 skipped, 0 failed" in stderr
    assert list(client.scheduler_info()["workers"].values())[0]["name"] == "w2"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.stem for p in slides)  # no temp folder left
    for slide in slides:
        _assert_same_tiles(out / slide.stem, serial / "tiles" / slide.stem)

    # A whole tile output folder is one cohort for embed; the surviving worker embeds it.
    coarse = tmp_path / "coarse"
    assert run_cli("tile", *slides, "-o", coarse, "--scheduler", address, *COARSE_ARGS).returncode == 0
    proc = run_cli("embed", coarse, "-o", tmp_path / "emb", "--scheduler", address)
    assert proc.returncode == 0, proc.stderr
    assert f"{N_SLIDES} embedded, 0 skipped, 0 failed" in proc.stderr
    for slide in slides:
        _assert_same_features(tmp_path / "emb" / slide.stem / "features.h5", serial / "emb" / slide.stem / "features.h5")

    # One bank from the whole cohort; a search names each hit and says where it is on which slide.
    assert run_cli("bank", "build", tmp_path / "emb", "-o", tmp_path / "bank").returncode == 0
    query = tmp_path / "emb" / slides[0].stem / "features.h5"
    hits = run_cli("search", query, "--bank", tmp_path / "bank", "-o", tmp_path / "hits", "--k", "3")
    assert hits.returncode == 0, hits.stderr
    with (tmp_path / "hits" / "neighbours.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * 6
    for row in rows:
        slide = Path(row["slide"])
        assert slide in slides and row["match"].startswith(f"{slide.stem} [x={row['x_level0_px']},y={row['y_level0_px']},")
    # hits.png: 6 queries (the default shows 8) of the query tile and 3 hits, each read back from its slide.
    picture = np.asarray(Image.open(tmp_path / "hits" / "hits.png"))
    cell, step = 96, 96 + 16 + 4
    assert picture.shape[0] == 6 * step + 4
    for r in range(6):
        for c in range(4):
            x = 4 + c * (cell + 4) + (12 if c else 0)
            tile = picture[4 + r * step : 4 + r * step + cell, x : x + cell]
            assert not (tile == 200).all(), (r, c)  # never the grey stand-in for a tile that cannot be read


def test_killed_run_resumes_without_duplicates_or_half_files(slides, serial, tmp_path):
    out = tmp_path / "tiles"
    args = ["-m", "pathsearch.cli.main", "tile", *map(str, slides), "-o", str(out), "--workers", "2", *TILE_ARGS]
    run = _spawn(*args, start_new_session=True)  # its own process group: the local cluster dies with it

    def finished() -> list[Path]:
        # pathlib's glob matches dot-names too: a temp folder holds its manifest just before the rename.
        return sorted(p.parent for p in out.glob("*/manifest.json") if not p.parent.name.startswith("."))

    _wait_for(finished, 180, "a first finished slide")
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate()
    done_before = finished()
    assert 0 < len(done_before) < N_SLIDES, "the run finished before it could be killed"
    for entry in out.iterdir():
        # Anything not named as a temp is a finished slide folder, never a half-written one.
        assert (entry.name.startswith(".") and entry.name.endswith(".tmp")) or (entry / "manifest.json").is_file()

    resumed = run_cli(*args[2:])
    assert resumed.returncode == 0, resumed.stderr
    skipped = len(done_before)
    assert f"{N_SLIDES - skipped} tiled, {skipped} skipped, 0 failed" in resumed.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.stem for p in slides)
    for slide in slides:
        _assert_same_tiles(out / slide.stem, serial / "tiles" / slide.stem)


def test_second_run_on_the_same_output_is_refused(slides, tmp_path):
    out = tmp_path / "tiles"
    with output_lock(out):
        proc = run_cli("tile", slides[0], "-o", out)
        assert_one_line_error(proc, "being written by another pathsearch run")
        assert not any(out.iterdir())
        emb = run_cli("embed", slides[0], slides[1], "-o", out)
        assert_one_line_error(emb, "being written by another pathsearch run")
    assert run_cli("tile", slides[0], "-o", out).returncode == 0


def test_bad_slides_are_listed_and_the_rest_done(slides, tmp_path):
    broken = tmp_path / "broken.svs"
    broken.write_bytes(b"not a slide at all")
    no_mpp = write_svs(tmp_path / "nompp.svs", tissue_image(2048, 2048, [(0, 0, 2048, 2048)]), mpp=None)
    out = tmp_path / "tiles"
    proc = run_cli("tile", broken, slides[0], no_mpp, "-o", out, "--workers", "2", *COARSE_ARGS)
    assert_one_line_error(proc, "broken.svs: not a readable slide", "nompp.svs", "--slide-mpp")
    assert proc.returncode == 1
    assert "1 tiled, 0 skipped, 2 failed" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [slides[0].stem]

    (out / "orphan").mkdir()
    (out / "orphan" / "tiles.h5").write_bytes(b"truncated")
    (out / "orphan" / "manifest.json").write_text("{}")
    emb = run_cli("embed", out, "-o", tmp_path / "emb", "--workers", "2")
    assert_one_line_error(emb, "orphan: ")
    assert "1 embedded, 0 skipped, 1 failed" in emb.stderr
    assert (tmp_path / "emb" / slides[0].stem / "features.h5").is_file()
    assert not (tmp_path / "emb" / "orphan").exists()


def test_unreachable_scheduler_is_one_line(slides, tmp_path):
    proc = run_cli("tile", slides[0], "-o", tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9")
    assert_one_line_error(proc, "--scheduler tcp://127.0.0.1:9: no Dask scheduler answered")
    assert not (tmp_path / "out").exists()


def _dies_on_three(x: int) -> int:
    if x == 3:
        os._exit(1)  # like a reader that segfaults on one slide: the worker process is gone
    return 10 * x


def test_an_item_that_keeps_killing_workers_fails_alone():
    results = run_batch(
        _dies_on_three, [1, 2, 3, 4], Cluster(workers=2), lambda item, why: f"{item}: {why}", names=list("abcd")
    )
    assert results[:2] == [10, 20] and results[3] == 40
    assert results[2].startswith("3: its task was lost (KilledWorker")
