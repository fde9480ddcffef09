"""he-texture: deterministic handcrafted H&E descriptors (after Kather et al. 2016), no weights."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from skimage.color import rgb2hed
from skimage.feature import graycomatrix, graycoprops, local_binary_pattern

TEXTURE_SIDE_PX = 224
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


@cache
def _gabor_kernels() -> list[np.ndarray]:
    return [
        cv2.getGaborKernel((31, 31), sigma=0.56 * lam, theta=theta, lambd=lam, gamma=0.5, psi=0)
        for lam in _GABOR_WAVELENGTHS_PX
        for theta in _GABOR_THETAS
    ]


def _colour(rgb: np.ndarray, hed: np.ndarray) -> list[float]:
    hed = hed.reshape(-1, 3)
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(np.float32) / 255.0
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32) / 255.0
    feats: list[float] = []
    for channels in (hed, hsv[:, 1:], lab):
        feats += channels.mean(0).tolist() + channels.std(0).tolist()
        feats += np.percentile(channels, (10, 50, 90), axis=0).ravel().tolist()
    hue_hist = np.histogram(hsv[:, 0], bins=12, range=(0, 1), weights=hsv[:, 1])[0]
    feats += (hue_hist / max(hue_hist.sum(), 1e-6)).tolist()
    return feats


def _lbp(channel: np.ndarray) -> list[float]:
    """Rotation-invariant uniform LBP histograms; square roots so cosine compares them as Hellinger."""
    feats: list[float] = []
    for points, radius in _LBP:
        codes = local_binary_pattern(channel, points, radius, method="uniform")
        hist = np.bincount(codes.astype(np.int64).ravel(), minlength=points + 2)
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
    energy = np.array([np.abs(cv2.filter2D(g, cv2.CV_32F, k)).mean() for k in _gabor_kernels()])
    energy = energy.reshape(len(_GABOR_WAVELENGTHS_PX), len(_GABOR_THETAS))
    mean = energy.mean(axis=1)
    anisotropy = (energy.max(axis=1) - energy.min(axis=1)) / np.maximum(mean, 1e-9)
    return np.stack([mean, anisotropy], axis=1).ravel().tolist()


def _stain_u8(stain_od: np.ndarray, max_od: float) -> np.ndarray:
    return (np.clip(stain_od / max_od, 0.0, 1.0) * 255).astype(np.uint8)


def texture_features(rgb: np.ndarray) -> np.ndarray:
    """Raw (unstandardised) descriptor of one RGB uint8 tile, resized to 224 px."""
    if rgb.shape[:2] != (TEXTURE_SIDE_PX, TEXTURE_SIDE_PX):
        rgb = cv2.resize(rgb, (TEXTURE_SIDE_PX, TEXTURE_SIDE_PX), interpolation=cv2.INTER_AREA)
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
