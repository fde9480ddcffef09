"""OpenSlide for vendor formats: SVS, NDPI, MRXS, generic tiled TIFF, DICOM, ..."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import openslide

from pathsearch.slide.base import Slide, rgba_to_rgb
from pathsearch.slide.mpp import mpp_from_properties
from pathsearch.slide.tifffile_backend import TiffFileSlide

# Vendors whose files are plain tiled TIFFs that tifffile decodes tile for tile as OpenSlide does.
_TIFF_VENDORS = ("aperio", "generic-tiff")
_CHECK_PX = 512


class OpenSlideSlide(Slide):
    backend = "openslide"

    def __init__(self, path: Path, mpp_override: float | None = None) -> None:
        super().__init__(path, mpp_override)
        self._osr = openslide.OpenSlide(str(path))
        self._tiff: TiffFileSlide | None = None
        self._tiff_levels: dict[int, bool] = {}  # level -> tifffile's pixels checked equal to OpenSlide's
        self._tiff_lock = threading.Lock()

    @property
    def level_dimensions(self) -> list[tuple[int, int]]:
        return list(self._osr.level_dimensions)

    @property
    def level_downsamples(self) -> list[float]:
        return list(self._osr.level_downsamples)

    @property
    def properties(self) -> dict[str, str]:
        return dict(self._osr.properties)

    def metadata_mpp(self) -> tuple[float | None, str]:
        props = self.properties
        key = next((k for k in ("openslide.mpp-x", "tiff.XResolution") if props.get(k)), "")
        return mpp_from_properties(props), f"metadata ({key or 'none'})"

    @property
    def associated_images(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v.convert("RGB")) for k, v in self._osr.associated_images.items()}

    def _read(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        return rgba_to_rgb(np.asarray(self._osr.read_region(location, level, size)))

    def read_block(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """Through tifffile where it gives OpenSlide's pixels: it decodes a block's stored tiles straight
        into one array, about 3x faster than OpenSlide paints them (BENCHMARKS.md)."""
        with self._tiff_lock:
            if level not in self._tiff_levels:
                self._tiff_levels[level] = self._tifffile_agrees(level)
        if self._tiff is not None and self._tiff_levels[level]:
            return self._tiff.read_region(location, level, size)
        return self.read_region(location, level, size)

    def _tifffile_agrees(self, level: int) -> bool:
        """Same level sizes and the same pixels in a window at the level's centre, or OpenSlide reads."""
        ds = self.level_downsamples[level]
        if self.properties.get("openslide.vendor") not in _TIFF_VENDORS or ds != round(ds):
            return False
        if self._tiff is None:
            try:
                self._tiff = TiffFileSlide(self.path)
            except Exception:  # noqa: BLE001 - any failure means OpenSlide keeps reading
                return False
        if self._tiff.level_dimensions[: self.level_count] != self.level_dimensions:
            return False
        (w, h), ds = self.level_dimensions[level], round(ds)
        window = (min(w, _CHECK_PX), min(h, _CHECK_PX))
        location = ((w - window[0]) // 2 * ds, (h - window[1]) // 2 * ds)
        return np.array_equal(self._tiff.read_region(location, level, window), self.read_region(location, level, window))

    def close(self) -> None:
        if self._tiff is not None:
            self._tiff.close()
        self._osr.close()
