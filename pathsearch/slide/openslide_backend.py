"""OpenSlide for vendor formats: SVS, NDPI, MRXS, generic tiled TIFF, DICOM, ..."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openslide

from pathsearch.slide.base import Slide, rgba_to_rgb
from pathsearch.slide.mpp import mpp_from_properties


class OpenSlideSlide(Slide):
    backend = "openslide"

    def __init__(self, path: Path, mpp_override: float | None = None) -> None:
        super().__init__(path, mpp_override)
        self._osr = openslide.OpenSlide(str(path))

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

    def close(self) -> None:
        self._osr.close()
