"""The fast he-texture steps against the library calls they replace, on images with the ties and flat
areas real tiles have."""

import cv2
import numpy as np
import pytest
import torch
from skimage.color import rgb2hed as skimage_rgb2hed
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern

from pathsearch.encoders import glcm_pass, texture
from pathsearch.encoders.colour_pass import percentiles
from pathsearch.encoders.lbp import uniform_lbp, uniform_lbp_histograms
from pathsearch.encoders.nuclei_pass import area_statistics, window_area_statistics
from pathsearch.encoders.registry import build_encoder


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (61, 47, 3), dtype=np.uint8)
    blocky = np.kron(rng.integers(0, 4, (8, 8, 3)) * 60, np.ones((9, 9, 1))).astype(np.uint8)  # flat areas, ties
    flat = np.full((30, 30, 3), 200, np.uint8)
    return [noisy, blocky, flat]


@pytest.mark.parametrize(("points", "radius"), [(8, 1.0), (16, 2.0), (24, 3.0), (12, 1.5)])
def test_lbp_equals_scikit_image(points, radius):
    for rgb in _images():
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        expected = local_binary_pattern(gray, points, radius, method="uniform")
        np.testing.assert_array_equal(uniform_lbp(gray, points, radius), expected)


def test_lbp_histograms_on_one_padding_equal_bincounts():
    params = ((8, 1.0), (16, 2.0), (24, 3.0), (12, 1.5))
    for rgb in _images():
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        expected = [np.bincount(local_binary_pattern(gray, p, r, method="uniform").astype(int).ravel(), minlength=p + 2) for p, r in params]
        for got, want in zip(uniform_lbp_histograms(gray, params), expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_hed_pass_equals_numpy_on_rgb2hed():
    for rgb in _images():
        hed = skimage_rgb2hed(rgb)
        channels = hed.reshape(-1, 3)
        got = texture.hed_statistics(rgb)
        np.testing.assert_allclose(got.means, channels.mean(0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got.stds, channels.std(0), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got.percentiles, np.percentile(channels, (10, 50, 90), axis=0).T, rtol=1e-12, atol=1e-15)
        for k, max_od in enumerate((texture._MAX_OD_HEMATOXYLIN, texture._MAX_OD_EOSIN)):
            expected = (np.clip(hed[..., k] / max_od, 0.0, 1.0) * 255).astype(np.uint8)
            np.testing.assert_array_equal(got.stains[k], expected)


@pytest.mark.parametrize("n", [1, 2, 9, 1000, 5001])
def test_percentiles_by_buckets_equal_numpy_exactly(n):
    """Ties at the minimum (a clipped stain), repeated values, and spreads that crowd one bucket."""
    rng = np.random.default_rng(n)
    qs = np.array([0.0, 10.0, 33.3, 50.0, 90.0, 100.0])
    samples = [
        rng.normal(size=n),
        np.maximum(rng.normal(size=n), 0),
        rng.integers(0, 3, n).astype(np.float64),
        np.concatenate([rng.normal(size=n), [1e9]]),  # one outlier: everything else in the first buckets
        np.full(n, 0.25),
    ]
    for values in samples:
        np.testing.assert_array_equal(percentiles(values, qs), np.percentile(values, qs))


def test_colour_statistics_from_counts_equal_numpy():
    rgb = _images()[0]
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3) / 255.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3) / 255.0
    expected = []
    for channels in (hsv[:, 1:], lab):
        expected += channels.mean(0).tolist() + channels.std(0).tolist()
        expected += np.percentile(channels, (10, 50, 90), axis=0).ravel().tolist()
    hue = np.histogram(hsv[:, 0], bins=12, range=(0, 1), weights=hsv[:, 1])[0]
    expected += (hue / hue.sum()).tolist()
    got = texture._colour(rgb, texture.hed_statistics(rgb))[15:]  # after the 15 HED statistics
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_glcm_features_equal_scikit_image():
    """Per distance, each `graycoprops` property averaged over angles; then the entropy of the matrix
    averaged over every offset."""
    for rgb in _images():
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        levels = texture.glcm_levels(gray)
        p = graycomatrix(levels, texture._GLCM_DISTANCES, texture._GLCM_ANGLES, levels=32, symmetric=True, normed=True)
        props = [graycoprops(p, prop).mean(axis=1) for prop in glcm_pass.PROPERTIES]
        mean = p.mean(axis=(2, 3))
        entropy = -(mean[mean > 0] * np.log2(mean[mean > 0])).sum()
        got = texture._glcm(gray)
        np.testing.assert_allclose(got, np.concatenate([*props, [entropy]]), rtol=1e-9, atol=1e-12)
        if len(np.unique(levels)) == 1:  # the flat image: zero deviation, correlation 1 at every distance
            np.testing.assert_array_equal(got[-4:-1], 1.0)


def test_gabor_by_one_dft_equals_filter2d():
    gray = cv2.cvtColor(texture.texture_tile(_images()[0]), cv2.COLOR_RGB2GRAY)
    g = gray.astype(np.float32) / 255.0
    g -= g.mean()
    energies = []
    for lam in texture._GABOR_WAVELENGTHS_PX:
        row = []
        for theta in texture._GABOR_THETAS:
            kernel = cv2.getGaborKernel((31, 31), sigma=0.56 * lam, theta=theta, lambd=lam, gamma=0.5, psi=0)
            row.append(np.abs(cv2.filter2D(g, cv2.CV_32F, kernel)).mean())
        energies.append(row)
    energy = np.array(energies)
    mean = energy.mean(axis=1)
    expected = np.stack([mean, (energy.max(axis=1) - energy.min(axis=1)) / mean], axis=1).ravel()
    np.testing.assert_allclose(texture._gabor(gray), expected, rtol=1e-4)


def test_encoder_threads_give_the_per_tile_descriptor():
    encoder = build_encoder("he-texture")
    tiles = _images()
    batch = torch.stack([encoder.preprocess(t) for t in tiles])
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = encoder.encode_images(batch)
    finally:
        torch.set_num_threads(previous)
    expected = np.stack([texture.standardise(texture.texture_features(t)) for t in tiles])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_nuclear_area_statistics_equal_numpy():
    rng = np.random.default_rng(3)
    for areas in (rng.integers(1, 200, 57), rng.integers(1, 200, 6), np.array([2, 3]), np.array([], np.int32)):
        kept = areas[areas >= 4].astype(np.float64)
        kept = kept if len(kept) else np.zeros(1)  # a window without nuclei: one of area 0
        expected = np.log1p([len(kept), np.median(kept), kept.mean(), np.percentile(kept, 90)])
        np.testing.assert_allclose(area_statistics(areas, 4), expected, rtol=1e-12)


def test_window_area_statistics_take_the_blobs_in_the_windows_cells():
    rng = np.random.default_rng(4)
    areas = rng.integers(1, 100, 40).astype(np.int32)
    cell_row, cell_col = rng.integers(0, 4, 40), rng.integers(0, 4, 40)
    windows = np.array([[0, 2, 0, 2], [1, 4, 2, 4], [3, 4, 3, 4]])
    got = window_area_statistics(areas, cell_row, cell_col, (4, 4), windows, 4)
    for (y0, y1, x0, x1), row in zip(windows, got, strict=True):
        inside = (cell_row >= y0) & (cell_row < y1) & (cell_col >= x0) & (cell_col < x1)
        np.testing.assert_array_equal(row, area_statistics(areas[inside], 4))
