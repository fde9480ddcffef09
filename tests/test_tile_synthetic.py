"""Tiling synthetic slides whose tissue geometry is known, so counts and coords are exact."""

import json

import h5py
import numpy as np
import pytest
from PIL import Image

from pathsearch.api.tile import tile_slide, tile_slides
from pathsearch.config import TileConfig, load_tile_config
from pathsearch.errors import PathsearchError, SlideError
from pathsearch.io.qupath import parse_tile_name
from pathsearch.slide.open import open_slide
from tests.conftest import HOLE, RECT, REPO, TILE
from tests.synthetic import tissue_image, write_svs


def expected_coords():
    rx, ry, rw, rh = RECT
    hx, hy, hw, hh = HOLE
    out = []
    for y in range(ry, ry + rh, TILE):
        for x in range(rx, rx + rw, TILE):
            if not (hx <= x < hx + hw and hy <= y < hy + hh):
                out.append([x, y])
    return out


def test_svs_tiles_exact(svs, tmp_path):
    result = tile_slide(svs, TileConfig(), tmp_path)
    assert result.status == "done" and result.n_tiles == 31
    with h5py.File(tmp_path / "synthetic" / "tiles.h5") as f:
        assert f["coords"].dtype == np.int64
        assert f["coords"][:].tolist() == expected_coords()
        attrs = dict(f["coords"].attrs)
        fraction = f["tissue_fraction"][:]
    assert attrs["patch_size"] == 224 and attrs["patch_size_level0"] == 224
    assert attrs["level0_mpp"] == 0.5 and attrs["target_mpp"] == 0.5
    assert attrs["read_level"] == 0 and attrs["overlap"] == 0
    assert fraction.min() > 0.95  # only the rectangle's corner tiles lose a rounded corner


def test_geojson_polygon_with_hole_in_level0_px(svs, tmp_path):
    tile_slide(svs, TileConfig(), tmp_path)
    fc = json.loads((tmp_path / "synthetic" / "tissue.geojson").read_text())
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 1
    feature = fc["features"][0]
    assert feature["properties"]["objectType"] == "annotation"
    rings = feature["geometry"]["coordinates"]
    assert len(rings) == 2  # exterior + the hole
    ext, hole = np.array(rings[0]), np.array(rings[1])
    rx, ry, rw, rh = RECT
    hx, hy, hw, hh = HOLE
    assert ext[:, 0].min() == pytest.approx(rx, abs=16) and ext[:, 0].max() == pytest.approx(rx + rw, abs=16)
    assert ext[:, 1].min() == pytest.approx(ry, abs=16) and ext[:, 1].max() == pytest.approx(ry + rh, abs=16)
    assert hole[:, 0].min() == pytest.approx(hx, abs=32) and hole[:, 1].max() == pytest.approx(
        hy + hh, abs=32
    )
    assert rings[0][0] == rings[0][-1]


def test_outputs_and_manifest(svs, tmp_path):
    tile_slide(svs, TileConfig(), tmp_path)
    out = tmp_path / "synthetic"
    assert sorted(p.name for p in out.iterdir()) == [
        "manifest.json",
        "thumbnail.png",
        "tiles.h5",
        "tissue.geojson",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["params"]["tile_size"] == 224
    assert manifest["inputs"]["slide"]["size_bytes"] == svs.stat().st_size
    assert manifest["counts"] == {"candidate_tiles": 18 * 13, "tiles": 31}
    assert manifest["slide"]["level_dimensions"] == [[4096, 3072], [1024, 768], [256, 192]]
    assert "openslide-python" in manifest["versions"] and "total_s" in manifest["timings"]
    with Image.open(out / "thumbnail.png") as im:
        assert im.size == (1024, 768)


def test_generic_pyramid_matches_svs_and_picks_coarse_level(svs, pyramid, tmp_path):
    a = tile_slide(svs, TileConfig(), tmp_path / "a")
    b = tile_slide(pyramid, TileConfig(), tmp_path / "b")
    with h5py.File(a.out_dir / "tiles.h5") as fa, h5py.File(b.out_dir / "tiles.h5") as fb:
        assert np.array_equal(fa["coords"][:], fb["coords"][:])
    result = tile_slide(pyramid, TileConfig(target_mpp=2.0, min_tissue=0.0), tmp_path / "c")
    with h5py.File(result.out_dir / "tiles.h5") as f:
        assert f["coords"].attrs["read_level"] == 1  # 4x level for a 4x target
        assert f["coords"].attrs["patch_size_level0"] == 896
        assert f["coords"].attrs["read_size"] == 224
        assert len(f["coords"]) == (4096 // 896) * (3072 // 896)


def test_level_tolerance_allows_near_match(pyramid, tmp_path):
    # 1.96 um/px is 2% finer than the 4x level: still read from level 1, never upsampled past 5%.
    result = tile_slide(pyramid, TileConfig(target_mpp=1.96, min_tissue=0.0), tmp_path)
    with h5py.File(result.out_dir / "tiles.h5") as f:
        assert f["coords"].attrs["read_level"] == 1


def test_upsampling_is_refused(svs, tmp_path):
    with pytest.raises(SlideError, match="upsampling"):
        tile_slide(svs, TileConfig(target_mpp=0.25), tmp_path)
    assert not any(tmp_path.iterdir())


def test_magnification_and_overlap(svs, tmp_path):
    result = tile_slide(svs, TileConfig(magnification=20, overlap=112), tmp_path)
    with h5py.File(result.out_dir / "tiles.h5") as f:
        coords = f["coords"][:]
        assert f["coords"].attrs["overlap"] == 112
    assert np.all(np.diff(np.unique(coords[:, 0])) == 112)


def test_missing_mpp_error_then_override(svs_no_mpp, tmp_path):
    with pytest.raises(SlideError, match="--slide-mpp"):
        tile_slide(svs_no_mpp, TileConfig(), tmp_path)
    assert not any(tmp_path.iterdir())
    result = tile_slide(svs_no_mpp, TileConfig(slide_mpp=0.5), tmp_path)
    assert result.n_tiles == 31


def test_blank_slide_has_no_tissue(tmp_path):
    blank = write_svs(tmp_path / "blank.svs", tissue_image(1024, 1024, []), downsamples=(1, 4))
    with pytest.raises(SlideError, match="no tissue"):
        tile_slide(blank, TileConfig(), tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_resume_skips_matching_manifest_and_reruns_on_change(svs, tmp_path):
    assert tile_slide(svs, TileConfig(), tmp_path).status == "done"
    assert tile_slide(svs, TileConfig(), tmp_path).status == "skipped"
    changed = tile_slide(svs, TileConfig(min_tissue=0.0), tmp_path)
    assert changed.status == "done" and changed.n_tiles == 18 * 13


def test_save_tiles_qupath_names_and_pixels(svs, tmp_path):
    result = tile_slide(svs, TileConfig(save_tiles="png"), tmp_path)
    files = sorted((result.out_dir / "tiles").iterdir())
    assert len(files) == 31
    parsed = [parse_tile_name(f.name) for f in files]
    assert {(p.x, p.y) for p in parsed} == {tuple(c) for c in expected_coords()}
    assert all(p.w == p.h == 224 and p.downsample == 1 for p in parsed)
    with open_slide(svs) as slide:
        expected = slide.read_region((parsed[0].x, parsed[0].y), 0, (224, 224))
    np.testing.assert_array_equal(np.asarray(Image.open(files[0])), expected)


def test_batch_reports_failures_and_carries_on(svs, tmp_path):
    results = tile_slides([tmp_path / "missing.svs", svs], TileConfig(), tmp_path / "out", workers=2)
    assert [r.status for r in results] == ["failed", "done"]
    assert "no such file" in results[0].error
    assert (tmp_path / "out" / "synthetic" / "tiles.h5").exists()


def test_config_presets_validate_and_unknown_keys_fail(tmp_path):
    presets = sorted((REPO / "wsi_configs").glob("*.yaml"))
    assert {p.stem for p in presets} >= {"default-20x-224", "40x-256", "biopsy"}
    for preset in presets:
        load_tile_config(preset)
    assert load_tile_config(REPO / "wsi_configs" / "40x-256.yaml").tile_size == 256
    assert (
        load_tile_config(REPO / "wsi_configs" / "40x-256.yaml", magnification=20).resolved_target_mpp == 0.5
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("tile_size: 224\ntile_sise: 256\n")
    with pytest.raises(PathsearchError, match="tile_sise: unknown key"):
        load_tile_config(bad)


def test_png_through_pil_backend(tmp_path, tissue_img):
    png = tmp_path / "small.png"
    Image.fromarray(tissue_img[:1024, :1024]).save(png, dpi=(50800, 50800))
    with open_slide(png) as slide:
        assert slide.backend == "pil" and slide.mpp == pytest.approx(0.5)
