import cv2
import numpy as np
import pytest

from pathsearch.errors import SlideError
from pathsearch.slide.mpp import check_mpp, mpp_from_properties, mpp_from_resolution
from pathsearch.slide.tiling import grid_coords, mask_fractions
from pathsearch.slide.tissue import TissueMask
from pathsearch.viz.thumbnail import _TILE_RGB, draw_tiling_qc


def _mask(m, ds=(16.0, 16.0)):
    return TissueMask(np.asarray(m, bool), ds, "otsu", "bright", 20.0)


def test_tissue_fraction_is_exact_for_fractional_boxes():
    mask = np.zeros((10, 10), bool)
    mask[2:6, 3:8] = True  # 4 x 5 mask px
    t = _mask(mask, (1.0, 1.0))
    coords = np.array([[3, 2], [0, 0], [2, 1], [5, 4]])
    # box of 2 px: fully inside, fully outside, 1x1 of 4, fully inside
    np.testing.assert_allclose(mask_fractions(t.mask, t.downsample, coords, 2), [1.0, 0.0, 0.25, 1.0])
    # fractional positions in mask space: downsample 4 -> 1.5 x 1.5 box offset by 0.25
    t4 = _mask(mask, (4.0, 4.0))
    frac = mask_fractions(t4.mask, t4.downsample, np.array([[11, 7]]), 6)  # x 2.75..4.25, y 1.75..3.25
    expected = ((4.25 - 3.0) * (3.25 - 2.0)) / (1.5 * 1.5)
    np.testing.assert_allclose(frac, [expected])


def test_tissue_fraction_matches_brute_force():
    rng = np.random.default_rng(0)
    mask = rng.random((40, 30)) > 0.6
    t = _mask(mask, (1.0, 1.0))
    coords = rng.integers(0, 20, size=(50, 2))
    brute = [mask[y : y + 7, x : x + 7].mean() for x, y in coords]
    np.testing.assert_allclose(mask_fractions(t.mask, t.downsample, coords, 7), brute, atol=1e-12)


def test_grid_is_row_major_whole_tiles_only():
    coords = grid_coords(500, 300, 224, 200)
    assert coords.tolist() == [[0, 0], [200, 0]]
    coords = grid_coords(700, 500, 224, 224)
    assert coords.tolist() == [[0, 0], [224, 0], [448, 0], [0, 224], [224, 224], [448, 224]]


def test_mpp_sources_and_plausibility():
    assert mpp_from_properties({"openslide.mpp-x": "0.2527"}) == pytest.approx(0.2527)
    assert mpp_from_properties(
        {"tiff.XResolution": "20000", "tiff.ResolutionUnit": "centimeter"}
    ) == pytest.approx(0.5)
    assert mpp_from_resolution(50800, "inch") == pytest.approx(0.5)
    assert mpp_from_properties({"tiff.XResolution": "72", "tiff.ResolutionUnit": "none"}) is None
    with pytest.raises(SlideError, match="--slide-mpp"):
        check_mpp(352.78, "metadata")


@pytest.mark.parametrize("step_level0", [448, 300, 600])
def test_qc_boxes_drawn_in_one_call_match_per_box_drawing(step_level0: int) -> None:
    """The QC picture draws thousands of tiles at once; it must show exactly what per-box drawing shows."""
    rng = np.random.default_rng(0)
    thumb = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    grid = [(x, y) for y in range(0, 9000, step_level0) for x in range(0, 12000, step_level0)]
    coords = np.array([xy for i, xy in enumerate(grid) if i % 7])
    downsample = (29.3, 31.7)
    boxes = np.column_stack([coords / downsample, (coords + 448) / downsample]).astype(np.int32)
    fill = thumb.copy()
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(fill, (x0, y0), (x1, y1), _TILE_RGB, thickness=-1)
    expected = cv2.addWeighted(thumb, 0.8, fill, 0.2, 0)
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(expected, (x0, y0), (x1, y1), _TILE_RGB, thickness=1)
    np.testing.assert_array_equal(draw_tiling_qc(thumb, downsample, [], coords, 448, step_level0), expected)
