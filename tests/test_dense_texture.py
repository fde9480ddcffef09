"""Dense he-texture: windows summed from cells must describe the same pixels as the window itself."""

import cv2
import numpy as np
import pytest
from skimage.color import hed_from_rgb
from skimage.feature import local_binary_pattern

from pathsearch.encoders import colour_pass, texture
from pathsearch.encoders import dense_texture as dense
from pathsearch.encoders.lbp import uniform_lbp_cell_counts
from pathsearch.heads.segment import crops, patch_grid
from tests.conftest import real_data


def _image(height: int = 250, width: int = 330) -> np.ndarray:
    rng = np.random.default_rng(1)
    base = cv2.resize(rng.integers(0, 256, (height // 10, width // 10, 3), dtype=np.uint8), (width, height))
    return np.clip(base.astype(int) + rng.integers(-30, 30, base.shape), 0, 255).astype(np.uint8)


def test_cells_cover_each_window_exactly():
    coords = patch_grid(250, 330, 96, 32)
    scale = 224 / 96
    shape = (round(250 * scale), round(330 * scale))
    cells = dense.cells_for(coords, 96, shape, scale)
    assert len(cells.row_of) == shape[0] and cells.row_of[0] == 0 and cells.row_of[-1] == cells.shape[0] - 1
    for (x, y), (y0, y1, x0, x1), px in zip(coords, cells.windows, cells.window_px(), strict=True):
        rows = np.flatnonzero((cells.row_of >= y0) & (cells.row_of < y1))
        cols = np.flatnonzero((cells.col_of >= x0) & (cells.col_of < x1))
        assert (rows[0], cols[0]) == (round(y * scale), round(x * scale))  # the window's own resized box
        assert abs(len(rows) - 224) <= 1 and abs(len(cols) - 224) <= 1 and px == len(rows) * len(cols)


def test_colour_histograms_equal_the_window_crop():
    """8-bit colour statistics are sums of counts, so they must equal the tile path on the same pixels."""
    image = _image()
    coords = patch_grid(*image.shape[:2], 96, 32)
    scale = 224 / 96
    rgb = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    cells = dense.cells_for(coords, 96, rgb.shape[:2], scale)
    *sums, _ = colour_pass.hed_cells(
        rgb, texture._optical_density_lut(), hed_from_rgb, texture._STAIN_MAX_OD, *cells.args(), dense._HED_BINS
    )
    got = dense._colour(cells, rgb, sums)
    for i in (0, len(coords) // 2, len(coords) - 1):
        y0, y1, x0, x1 = cells.windows[i]
        rows = np.flatnonzero((cells.row_of >= y0) & (cells.row_of < y1))
        cols = np.flatnonzero((cells.col_of >= x0) & (cells.col_of < x1))
        crop = rgb[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        expected = texture._colour(crop, texture.hed_statistics(crop))
        np.testing.assert_allclose(got[i, 15:], expected[15:], rtol=1e-9, atol=1e-12)  # HSV, Lab, hue
        np.testing.assert_allclose(got[i, :6], expected[:6], rtol=1e-6, atol=1e-9)  # HED means and stds
        np.testing.assert_allclose(got[i, 6:15], expected[6:15], atol=2e-3)  # HED percentiles, 1024 bins


def test_otsu_equals_opencv():
    rng = np.random.default_rng(2)
    images = [rng.normal(m, s, (40, 40)).clip(0, 255).astype(np.uint8) for m, s in ((60, 10), (120, 50), (200, 5))]
    images.append(np.where(rng.random((40, 40)) < 0.3, 30, 220).astype(np.uint8))
    counts = np.stack([np.bincount(im.ravel(), minlength=256) for im in images])
    expected = [cv2.threshold(im, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)[0] for im in images]
    np.testing.assert_array_equal(dense._otsu(counts), expected)


def _agreement(image: np.ndarray) -> np.ndarray:
    coords = patch_grid(*image.shape[:2], 96, 32)
    a = texture.standardise(dense.dense_texture_features(image, coords, 96))
    b = texture.standardise(np.stack([texture.texture_features(c) for c in crops(image, coords, 96)]))
    return (a * b).sum(axis=1)


def test_dense_windows_agree_with_tiles_on_synthetic_texture():
    cosine = _agreement(_image())
    assert np.median(cosine) > 0.98 and cosine.min() > 0.9, (np.median(cosine), cosine.min())


def test_dense_windows_agree_with_tiles_on_real_glands():
    folder = real_data("segmentation/glas-dev")
    path = next(p for p in sorted(folder.glob("*.png")) if "-labelled" not in p.name)
    image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)[:300, :400]
    cosine = _agreement(image)
    assert np.median(cosine) > 0.99 and cosine.min() > 0.97, (np.median(cosine), cosine.min())


@pytest.mark.parametrize("patch_px", [64, 96])
def test_dense_features_shape_and_order(patch_px):
    image = _image(200, 260)
    coords = patch_grid(200, 260, patch_px, 32)
    features = dense.dense_texture_features(image, coords, patch_px)
    assert features.shape == (len(coords), len(texture.texture_stats()[0])) and np.isfinite(features).all()
    reversed_rows = dense.dense_texture_features(image, coords[::-1], patch_px)
    np.testing.assert_allclose(reversed_rows[::-1], features, rtol=1e-5, atol=1e-6)


def test_gabor_blocks_equal_filter2d_over_the_whole_image():
    """One forward DFT per block, bordered as filter2D borders the image, must give filter2D's response
    on every block, the partial ones at the right and bottom edges included."""
    image = _image(2 * dense._GABOR_BLOCK_PX + 37, dense._GABOR_BLOCK_PX + 50)
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    coords = patch_grid(*gray.shape, 96, 32)  # cells at full scale: only the cell sums are compared
    cells = dense.cells_for(coords, 96, gray.shape, 1.0)
    bordered, local_mean = dense._gabor_input(gray)
    got = sum(
        dense._gabor_block(cells, bordered, local_mean, y0, x0)
        for y0 in range(0, gray.shape[0], dense._GABOR_BLOCK_PX)
        for x0 in range(0, gray.shape[1], dense._GABOR_BLOCK_PX)
    )
    g = gray.astype(np.float32) / 255.0
    for kernel, sums in zip(texture.gabor_kernels(), got, strict=True):
        response = np.abs(cv2.filter2D(g, cv2.CV_32F, kernel) - local_mean * np.float32(kernel.sum())).astype(np.float64)
        rows = np.add.reduceat(response, np.flatnonzero(np.diff(cells.row_of, prepend=-1)), axis=0)
        expected = np.add.reduceat(rows, np.flatnonzero(np.diff(cells.col_of, prepend=-1)), axis=1)
        np.testing.assert_allclose(sums, expected, rtol=1e-4)


def test_lbp_counts_per_cell_equal_bincounts_of_the_codes():
    image = cv2.cvtColor(_image(150, 90), cv2.COLOR_RGB2GRAY)  # taller than a band of rows, and a partial one
    row_of = np.repeat(np.arange(5), 30)
    col_of = np.repeat(np.arange(3), 30)
    params = ((8, 1.0), (24, 3.0))
    for (points, radius), counts in zip(params, uniform_lbp_cell_counts(image, params, (row_of, col_of, 5, 3)), strict=True):
        codes = local_binary_pattern(image, points, radius, method="uniform").astype(int)
        for cy, cx in ((0, 0), (2, 1), (4, 2)):
            cell = codes[cy * 30 : (cy + 1) * 30, cx * 30 : (cx + 1) * 30]
            np.testing.assert_array_equal(counts[cy, cx], np.bincount(cell.ravel(), minlength=points + 2))
