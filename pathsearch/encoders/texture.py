"""he-texture: deterministic handcrafted H&E descriptors (after Kather et al. 2016), no weights."""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from skimage.color import hed_from_rgb
from skimage.util import img_as_float

from pathsearch.encoders import colour_pass, glcm_pass
from pathsearch.encoders.lbp import uniform_lbp_histograms
from pathsearch.encoders.nuclei_pass import area_statistics

TEXTURE_SIDE_PX = 224
_PERCENTILES = (10, 50, 90)
_HUE_BINS = 12
_GLCM_LEVELS = 32
_LBP = ((8, 1.0), (16, 2.0), (24, 3.0))
_GLCM_DISTANCES = (1, 2, 4)
_GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
_GABOR_WAVELENGTHS_PX = (4.0, 8.0, 16.0)
_GABOR_THETAS = tuple(np.arange(4) * np.pi / 4)
# rgb2hed optical densities that saturate the 8-bit stain images; dense nuclei sit near the top.
_MAX_OD_HEMATOXYLIN = 0.15
_MAX_OD_EOSIN = 0.10
_STAIN_MAX_OD = np.array([_MAX_OD_HEMATOXYLIN, _MAX_OD_EOSIN])
_PERCENTILES_F64 = np.array(_PERCENTILES, np.float64)
_MIN_NUCLEUS_LEVEL = 60  # floor for Otsu on the 8-bit haematoxylin image, so a tile without nuclei
# does not have its background noise split into "nuclei"
_MIN_NUCLEUS_PX = 4  # at 0.5 um/px, 1 um^2: smaller blobs are noise
_EMPTY_GRAY_LEVEL = 215
_STATS_FILE = Path(__file__).with_name("he_texture_stats.json")


# Each feature group is summarised from counts or sums with a leading window axis, so the tile path
# (one window) and the dense path (every window of an image, from per-cell counts) share one definition.


def percentiles_from_counts(counts: np.ndarray, values: np.ndarray, qs: tuple[float, ...] = _PERCENTILES) -> np.ndarray:
    """(n, bins) histograms of exact `values` -> (n, len(qs)) percentiles, interpolated as numpy's
    default does between order statistics; compiled, since as small numpy calls it held the GIL that
    the encoder threads share."""
    return colour_pass.percentiles_from_counts(np.ascontiguousarray(counts), values, np.array(qs, np.float64))


def colour_features(means: np.ndarray, stds: np.ndarray, pcts: np.ndarray) -> np.ndarray:
    """(n, c), (n, c), (n, c, 3) -> (n, 5c): means, stds, then each percentile over the channels."""
    return np.concatenate([means, stds, pcts.transpose(0, 2, 1).reshape(len(means), -1)], axis=1)


def u8_channel_features(counts: np.ndarray) -> np.ndarray:
    """(n, channels, 256) counts of 8-bit channels, read as 0-1."""
    values = np.arange(256) / 255.0
    n, channels, _ = counts.shape
    total = counts.sum(axis=2)
    means = counts @ values / total
    stds = np.sqrt(np.einsum("ncb,ncb->nc", counts, (values - means[..., None]) ** 2) / total)
    pcts = percentiles_from_counts(counts.reshape(n * channels, 256), values).reshape(n, channels, -1)
    return colour_features(means, stds, pcts)


def hue_features(weighted_counts: np.ndarray) -> np.ndarray:
    """(n, 12) saturation-weighted hue histograms -> shares."""
    return weighted_counts / np.maximum(weighted_counts.sum(axis=1, keepdims=True), 1e-6)


def lbp_features(counts: list[np.ndarray]) -> np.ndarray:
    """Per (points, radius), (n, points + 2) code counts -> square-rooted shares, so cosine compares
    them as a Hellinger kernel."""
    return np.concatenate([np.sqrt(c / c.sum(axis=1, keepdims=True)) for c in counts], axis=1)


def glcm_offsets() -> list[tuple[int, int]]:
    """(row, col) step per (distance, angle), distance-major, rounded as scikit-image's graycomatrix does."""
    return [(round(np.sin(a) * d), round(np.cos(a) * d)) for d in _GLCM_DISTANCES for a in _GLCM_ANGLES]


def gabor_features(energy: np.ndarray) -> np.ndarray:
    """(n, wavelengths * orientations) mean |response| -> per wavelength the energy averaged over
    orientations and its anisotropy, since tissue has no 'up'."""
    energy = energy.reshape(len(energy), len(_GABOR_WAVELENGTHS_PX), len(_GABOR_THETAS))
    mean = energy.mean(axis=2)
    anisotropy = (energy.max(axis=2) - energy.min(axis=2)) / np.maximum(mean, 1e-9)
    return np.stack([mean, anisotropy], axis=2).reshape(len(energy), -1)


def nuclei_threshold(otsu: float) -> float:
    return max(otsu, _MIN_NUCLEUS_LEVEL)


def nuclei_features(fraction: float, areas_px: np.ndarray, empty_fraction: float) -> list[float]:
    """Nuclear density and size from the haematoxylin channel, plus the empty (lumen, fat) fraction."""
    return [fraction, *area_statistics(areas_px, _MIN_NUCLEUS_PX), empty_fraction]


_GABOR_KERNEL_PX = 31
_GABOR_HALF_PX = _GABOR_KERNEL_PX // 2  # the filters' reach, the border a filtered image needs
_GABOR_DFT_PX = cv2.getOptimalDFTSize(TEXTURE_SIDE_PX + _GABOR_KERNEL_PX - 1)


@cache
def gabor_kernels() -> list[np.ndarray]:
    return [
        cv2.getGaborKernel((_GABOR_KERNEL_PX,) * 2, sigma=0.56 * lam, theta=theta, lambd=lam, gamma=0.5, psi=0)
        for lam in _GABOR_WAVELENGTHS_PX
        for theta in _GABOR_THETAS
    ]


@cache
def gabor_kernel_spectra() -> list[np.ndarray]:
    """Kernel spectra for filtering by one forward DFT of the tile and one inverse per kernel, instead of
    `filter2D`'s forward-and-inverse per kernel (4x less work; equal within float32 rounding)."""
    half = _GABOR_HALF_PX
    spectra = []
    for kernel in gabor_kernels():
        padded = np.zeros((_GABOR_DFT_PX, _GABOR_DFT_PX), np.float32)
        padded[:_GABOR_KERNEL_PX, :_GABOR_KERNEL_PX] = kernel
        spectra.append(cv2.dft(np.roll(padded, (-half, -half), axis=(0, 1))))  # centred on (0, 0)
    return spectra


def gabor_spectrum(g: np.ndarray) -> np.ndarray:
    """DFT of a zero-mean float32 image, bordered as filter2D borders (reflect 101) and zero-padded to
    the DFT size, so the wrap-around lands only outside the image."""
    half = _GABOR_HALF_PX
    rest_y, rest_x = (_GABOR_DFT_PX - side - half for side in g.shape)
    return cv2.dft(cv2.copyMakeBorder(g, half, rest_y, half, rest_x, cv2.BORDER_REFLECT_101))


def gabor_responses(spectrum: np.ndarray, shape: tuple[int, int]) -> Iterator[np.ndarray]:
    """Each kernel's response over an image of `shape`, from the DFT of the image bordered by
    `_GABOR_HALF_PX` on top and left: one inverse DFT per kernel, cropped back to the image."""
    half = _GABOR_HALF_PX
    for kernel in gabor_kernel_spectra():
        out = cv2.idft(cv2.mulSpectrums(spectrum, kernel, 0), flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)
        yield out[half : half + shape[0], half : half + shape[1]]


def gabor_energies(spectrum: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mean |response| per kernel over the image. OpenCV's L1 norm reads the crop in place, sums in
    double and releases the GIL (numpy's abs-then-mean made a copy and summed in float32)."""
    energies = [cv2.norm(response, cv2.NORM_L1) for response in gabor_responses(spectrum, shape)]
    return np.array(energies) / (shape[0] * shape[1])


def _gabor(gray: np.ndarray) -> np.ndarray:
    g = gray.astype(np.float32) / 255.0
    g -= g.mean()
    return gabor_features(gabor_energies(gabor_spectrum(g), g.shape)[None])[0]


def _colour(rgb: np.ndarray, hed: HedStatistics) -> np.ndarray:
    hed_feats = colour_features(hed.means[None], hed.stds[None], hed.percentiles[None])
    counts, hue = colour_pass.channel_counts(
        cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL), cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB), _HUE_BINS, *colour_pass.one_cell(rgb.shape)
    )
    counts, hue = counts[0], hue[0]
    return np.concatenate(
        [hed_feats, u8_channel_features(counts[:, :2]), u8_channel_features(counts[:, 2:]), hue_features(hue)], axis=1
    )[0]


def _lbp(channel: np.ndarray) -> np.ndarray:
    return lbp_features([counts[None] for counts in uniform_lbp_histograms(channel, _LBP)])[0]


def _nuclei(hematoxylin_u8: np.ndarray, gray: np.ndarray) -> list[float]:
    """OpenCV calls, which release the GIL, where numpy's comparisons and means held it."""
    otsu, _ = cv2.threshold(hematoxylin_u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    _, nuclei = cv2.threshold(hematoxylin_u8, nuclei_threshold(otsu), 1, cv2.THRESH_BINARY)
    _, _, stats, _ = cv2.connectedComponentsWithStats(nuclei)
    areas = stats[1:, cv2.CC_STAT_AREA]  # every foreground pixel is in one component
    empty = cv2.countNonZero(cv2.threshold(gray, _EMPTY_GRAY_LEVEL, 1, cv2.THRESH_BINARY)[1])
    return nuclei_features(float(areas.sum() / gray.size), areas, float(empty / gray.size))


def glcm_levels(gray: np.ndarray) -> np.ndarray:
    return (gray.astype(np.uint16) * _GLCM_LEVELS // 256).astype(np.uint8)


def glcm_counts(gray: np.ndarray, row_of: np.ndarray, col_of: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """(rows, cols, distances * angles, levels, levels) one-way co-occurrence counts per cell."""
    offsets = np.array(glcm_offsets(), np.int64)
    counts = np.zeros((rows, cols, len(offsets), _GLCM_LEVELS, _GLCM_LEVELS), np.int32)
    glcm_pass.count_pairs(glcm_levels(gray), offsets, row_of, col_of, counts)
    return counts


def _glcm(gray: np.ndarray) -> np.ndarray:
    whole = np.array([[0, 1, 0, 1]])
    return glcm_pass.window_features(glcm_counts(gray, *colour_pass.one_cell(gray.shape)), whole, len(_GLCM_ANGLES))[0]


@cache
def _optical_density_lut() -> np.ndarray:
    """scikit-image's `rgb2hed` log step for each 8-bit value, so a tile needs a lookup, not 150k logs."""
    rgb = np.maximum(img_as_float(np.arange(256, dtype=np.uint8)), 1e-6)
    return np.log(rgb) / np.log(1e-6)


class HedStatistics(NamedTuple):
    means: np.ndarray  # (3,) per stain channel of `rgb2hed`
    stds: np.ndarray
    percentiles: np.ndarray  # (3, len(_PERCENTILES))
    stains: np.ndarray  # (2, H, W) haematoxylin and eosin as `stain_u8` images


def hed_statistics(rgb: np.ndarray) -> HedStatistics:
    """`rgb2hed`, its numpy mean/std/percentile per channel and the two stain images, in one
    compiled pass (equal to within a float64 rounding of the 3x3 product)."""
    return HedStatistics(
        *colour_pass.hed_pass(np.ascontiguousarray(rgb), _optical_density_lut(), hed_from_rgb, _STAIN_MAX_OD, _PERCENTILES_F64)
    )


def texture_tile(rgb: np.ndarray) -> np.ndarray:
    """The descriptor's pixel scale: every tile is read at 224 px, whatever its size."""
    if rgb.shape[:2] == (TEXTURE_SIDE_PX, TEXTURE_SIDE_PX):
        return rgb
    return cv2.resize(rgb, (TEXTURE_SIDE_PX, TEXTURE_SIDE_PX), interpolation=cv2.INTER_AREA)


def texture_features(rgb: np.ndarray) -> np.ndarray:
    """Raw (unstandardised) descriptor of one RGB uint8 tile, resized to 224 px."""
    rgb = texture_tile(rgb)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hed = hed_statistics(rgb)
    hematoxylin, eosin = hed.stains
    parts = (_colour(rgb, hed), _lbp(gray), _lbp(eosin), _glcm(gray), _gabor(gray), _nuclei(hematoxylin, gray))
    return np.concatenate(parts).astype(np.float32)


@cache
def texture_stats() -> tuple[np.ndarray, np.ndarray]:
    """Fixed per-feature mean/std, so an embedding never depends on the rest of its batch."""
    stats = json.loads(_STATS_FILE.read_text())
    return np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)


def standardise(raw: np.ndarray) -> np.ndarray:
    mean, std = texture_stats()
    z = (raw - mean) / std
    return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
