"""he-texture: deterministic handcrafted H&E descriptors (after Kather et al. 2016), no weights."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from skimage.color import hed_from_rgb
from skimage.feature import graycomatrix, graycoprops
from skimage.util import img_as_float

from pathsearch.encoders.lbp import uniform_lbp

TEXTURE_SIDE_PX = 224
_PERCENTILES = (10, 50, 90)
_LBP = ((8, 1.0), (16, 2.0), (24, 3.0))
_GLCM_DISTANCES = (1, 2, 4)
_GLCM_ANGLES = (0.0, np.pi / 4, np.pi / 2, 3 * np.pi / 4)
_GLCM_PROPS = ("contrast", "dissimilarity", "homogeneity", "energy", "correlation")
_GABOR_WAVELENGTHS_PX = (4.0, 8.0, 16.0)
_GABOR_THETAS = tuple(np.arange(4) * np.pi / 4)
# rgb2hed optical densities that saturate the 8-bit stain images; dense nuclei sit near the top.
_MAX_OD_HEMATOXYLIN = 0.15
_MAX_OD_EOSIN = 0.10
_MIN_NUCLEUS_LEVEL = 60  # floor for Otsu on the 8-bit haematoxylin image, so a tile without nuclei
# does not have its background noise split into "nuclei"
_MIN_NUCLEUS_PX = 4  # at 0.5 um/px, 1 um^2: smaller blobs are noise
_EMPTY_GRAY_LEVEL = 215
_STATS_FILE = Path(__file__).with_name("he_texture_stats.json")


_GABOR_KERNEL_PX = 31
_GABOR_DFT_PX = cv2.getOptimalDFTSize(TEXTURE_SIDE_PX + _GABOR_KERNEL_PX - 1)


@cache
def _gabor_spectra() -> list[np.ndarray]:
    """Kernel spectra for filtering by one forward DFT of the tile and one inverse per kernel, instead of
    `filter2D`'s forward-and-inverse per kernel (4x less work; equal within float32 rounding)."""
    half = _GABOR_KERNEL_PX // 2
    spectra = []
    for lam in _GABOR_WAVELENGTHS_PX:
        for theta in _GABOR_THETAS:
            kernel = cv2.getGaborKernel((_GABOR_KERNEL_PX,) * 2, sigma=0.56 * lam, theta=theta, lambd=lam, gamma=0.5, psi=0)
            padded = np.zeros((_GABOR_DFT_PX, _GABOR_DFT_PX), np.float32)
            padded[:_GABOR_KERNEL_PX, :_GABOR_KERNEL_PX] = kernel
            spectra.append(cv2.dft(np.roll(padded, (-half, -half), axis=(0, 1))))  # centred on (0, 0)
    return spectra


def _percentiles_from_counts(counts: np.ndarray, values: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """numpy's linear-interpolated percentiles, read off a histogram of exact values (no sort)."""
    n = int(counts.sum())
    cumulative = np.cumsum(counts)
    out = []
    for q in qs:
        index = q / 100 * (n - 1)
        below = int(np.floor(index))
        low, high = values[np.searchsorted(cumulative, [below, min(below + 1, n - 1)], side="right")]
        t = index - below
        out.append(float(low + (high - low) * t if t < 0.5 else high - (high - low) * (1 - t)))
    return out


def _u8_channel_stats(channels_u8: np.ndarray) -> list[float]:
    """Mean, std and percentiles of 8-bit channels scaled to 0-1, from 256-bin counts."""
    values = np.arange(256) / 255.0
    counts = [np.bincount(ch, minlength=256) for ch in channels_u8]
    n = channels_u8.shape[1]
    means = [float(c @ values / n) for c in counts]
    stds = [float(np.sqrt(c @ (values - m) ** 2 / n)) for c, m in zip(counts, means, strict=True)]
    pct = [_percentiles_from_counts(c, values, _PERCENTILES) for c in counts]
    return means + stds + np.asarray(pct).T.ravel().tolist()


def _colour(rgb: np.ndarray, hed: np.ndarray) -> list[float]:
    hed_t = np.ascontiguousarray(hed.reshape(-1, 3).T)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).T
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3).T
    feats: list[float] = hed_t.mean(1).tolist() + hed_t.std(1).tolist()
    feats += np.percentile(hed_t, _PERCENTILES, axis=1).ravel().tolist()
    feats += _u8_channel_stats(hsv[1:]) + _u8_channel_stats(lab)
    hue_bins = np.minimum(hsv[0].astype(np.int64) * 12 // 255, 11)  # np.histogram's 12 bins over 0-1
    hue_hist = np.bincount(hue_bins, weights=hsv[1] / 255.0, minlength=12)
    feats += (hue_hist / max(hue_hist.sum(), 1e-6)).tolist()
    return feats


def _lbp(channel: np.ndarray) -> list[float]:
    """Rotation-invariant uniform LBP histograms; square roots so cosine compares them as Hellinger."""
    feats: list[float] = []
    for points, radius in _LBP:
        hist = np.bincount(uniform_lbp(channel, points, radius).ravel(), minlength=points + 2)
        feats += np.sqrt(hist / hist.sum()).tolist()
    return feats


def _nuclei(hematoxylin_u8: np.ndarray, gray: np.ndarray) -> list[float]:
    """Nuclear density and size from the haematoxylin channel, plus the empty (lumen, fat) fraction."""
    otsu, _ = cv2.threshold(hematoxylin_u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    nuclei = (hematoxylin_u8 > max(otsu, _MIN_NUCLEUS_LEVEL)).astype(np.uint8)
    _, _, stats, _ = cv2.connectedComponentsWithStats(nuclei)
    areas_px = stats[1:, cv2.CC_STAT_AREA].astype(np.float32)
    areas_px = areas_px[areas_px >= _MIN_NUCLEUS_PX]
    if not len(areas_px):
        areas_px = np.zeros(1, np.float32)
    return [
        float(nuclei.mean()),
        float(np.log1p(len(areas_px))),
        float(np.log1p(np.median(areas_px))),
        float(np.log1p(areas_px.mean())),
        float(np.log1p(np.percentile(areas_px, 90))),
        float((gray > _EMPTY_GRAY_LEVEL).mean()),
    ]


def _glcm(gray: np.ndarray) -> list[float]:
    levels = 32
    quantised = (gray.astype(np.uint16) * levels // 256).astype(np.uint8)
    glcm = graycomatrix(quantised, _GLCM_DISTANCES, _GLCM_ANGLES, levels=levels, symmetric=True, normed=True)
    feats: list[float] = []
    for prop in _GLCM_PROPS:
        feats += graycoprops(glcm, prop).mean(axis=1).tolist()  # rotation-averaged per distance
    p = glcm.mean(axis=(2, 3))
    entropy = -(p[p > 0] * np.log2(p[p > 0])).sum()
    return [*feats, float(entropy)]


def _gabor(gray: np.ndarray) -> list[float]:
    """Per wavelength: energy averaged over orientations and its anisotropy, since tissue has no 'up'."""
    g = gray.astype(np.float32) / 255.0
    g -= g.mean()
    half, side = _GABOR_KERNEL_PX // 2, gray.shape[0]
    # filter2D's default border (reflect 101), then zeros up to the DFT size: the wrap-around lands
    # only outside the cropped tile
    rest = _GABOR_DFT_PX - side - half
    spectrum = cv2.dft(cv2.copyMakeBorder(g, half, rest, half, rest, cv2.BORDER_REFLECT_101))
    energy = np.array([
        np.abs(cv2.idft(cv2.mulSpectrums(spectrum, k, 0), flags=cv2.DFT_REAL_OUTPUT | cv2.DFT_SCALE)[half : half + side, half : half + side]).mean()
        for k in _gabor_spectra()
    ])
    energy = energy.reshape(len(_GABOR_WAVELENGTHS_PX), len(_GABOR_THETAS))
    mean = energy.mean(axis=1)
    anisotropy = (energy.max(axis=1) - energy.min(axis=1)) / np.maximum(mean, 1e-9)
    return np.stack([mean, anisotropy], axis=1).ravel().tolist()


@cache
def _optical_density_lut() -> np.ndarray:
    """scikit-image's `rgb2hed` log step for each 8-bit value, so a tile needs a lookup, not 150k logs."""
    rgb = np.maximum(img_as_float(np.arange(256, dtype=np.uint8)), 1e-6)
    return np.log(rgb) / np.log(1e-6)


def rgb2hed(rgb: np.ndarray) -> np.ndarray:
    """Equal to `skimage.color.rgb2hed` for uint8 RGB."""
    return np.maximum(_optical_density_lut()[rgb] @ hed_from_rgb, 0)


def _stain_u8(stain_od: np.ndarray, max_od: float) -> np.ndarray:
    return (np.clip(stain_od / max_od, 0.0, 1.0) * 255).astype(np.uint8)


def texture_tile(rgb: np.ndarray) -> np.ndarray:
    """The descriptor's pixel scale: every tile is read at 224 px, whatever its size."""
    if rgb.shape[:2] == (TEXTURE_SIDE_PX, TEXTURE_SIDE_PX):
        return rgb
    return cv2.resize(rgb, (TEXTURE_SIDE_PX, TEXTURE_SIDE_PX), interpolation=cv2.INTER_AREA)


def texture_features(rgb: np.ndarray) -> np.ndarray:
    """Raw (unstandardised) descriptor of one RGB uint8 tile, resized to 224 px."""
    rgb = texture_tile(rgb)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    hed = rgb2hed(rgb)
    hematoxylin = _stain_u8(hed[..., 0], _MAX_OD_HEMATOXYLIN)
    eosin = _stain_u8(hed[..., 1], _MAX_OD_EOSIN)
    feats = _colour(rgb, hed) + _lbp(gray) + _lbp(eosin) + _glcm(gray) + _gabor(gray) + _nuclei(hematoxylin, gray)
    return np.asarray(feats, np.float32)


@cache
def texture_stats() -> tuple[np.ndarray, np.ndarray]:
    """Fixed per-feature mean/std, so an embedding never depends on the rest of its batch."""
    stats = json.loads(_STATS_FILE.read_text())
    return np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)


def standardise(raw: np.ndarray) -> np.ndarray:
    mean, std = texture_stats()
    z = (raw - mean) / std
    return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
