"""The CLI as a user meets it: one-line errors, no tracebacks, exit codes."""

import h5py

from tests.cli import assert_one_line_error, run_cli
from tests.conftest import real_data


def test_cli_tiles_and_summarises(svs, tmp_path):
    proc = run_cli("tile", svs, "-o", tmp_path, "--min-tissue", "0.9")
    assert proc.returncode == 0, proc.stderr
    assert "1 tiled, 0 skipped, 0 failed" in proc.stderr
    with h5py.File(tmp_path / "synthetic" / "tiles.h5") as f:
        assert len(f["coords"]) == 31
    again = run_cli("tile", svs, "-o", tmp_path, "--min-tissue", "0.9")
    assert "0 tiled, 1 skipped" in again.stderr


def test_cli_missing_file_and_good_slide(svs, tmp_path):
    proc = run_cli("tile", tmp_path / "nope.svs", svs, "-o", tmp_path / "out")
    assert_one_line_error(proc, "nope.svs: no such file")
    assert (tmp_path / "out" / "synthetic" / "tiles.h5").exists()
    assert not (tmp_path / "out" / "nope").exists()


def test_cli_non_slide_and_bad_config(tmp_path):
    junk = tmp_path / "notes.svs"
    junk.write_text("not a slide")
    assert_one_line_error(run_cli("tile", junk, "-o", tmp_path / "out"), "not a readable slide")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("tile_size: -3\n")
    assert_one_line_error(run_cli("tile", junk, "-o", tmp_path / "out", "--config", cfg), "tile_size")
    assert not (tmp_path / "out").exists()


def test_cli_no_mpp(svs_no_mpp, tmp_path):
    assert_one_line_error(run_cli("tile", svs_no_mpp, "-o", tmp_path), "--slide-mpp")
    assert not (tmp_path / "nompp").exists()
    assert run_cli("tile", svs_no_mpp, "-o", tmp_path, "--slide-mpp", "0.5").returncode == 0


def test_cli_broken_openslide_fixtures(tmp_path):
    for name in ("openslide-unreadable.svs", "openslide-unopenable.tiff"):
        path = real_data(f"slides/{name}")
        assert_one_line_error(run_cli("tile", path, "-o", tmp_path), f"{name}: not a readable slide")
        assert not any(tmp_path.iterdir())
