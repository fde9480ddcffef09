"""PIL for plain PNG/JPEG: one level, decoded once."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pathsearch.slide.base import Slide
from pathsearch.slide.mpp import mpp_from_resolution


class PILSlide(Slide):
    backend = "pil"

    def __init__(self, path: Path, mpp_override: float | None = None) -> None:
        super().__init__(path, mpp_override)
        with Image.open(path) as img:
            self._info = dict(img.info)
            self._rgb = np.asarray(img.convert("RGB"))

    @property
    def level_dimensions(self) -> list[tuple[int, int]]:
        return [(self._rgb.shape[1], self._rgb.shape[0])]

    @property
    def properties(self) -> dict[str, str]:
        return {f"pil.{k}": str(v)[:200] for k, v in self._info.items() if k != "icc_profile"}

    def metadata_mpp(self) -> tuple[float | None, str]:
        dpi = self._info.get("dpi")
        if not dpi:
            return None, "image DPI (absent)"
        return mpp_from_resolution(float(dpi[0]), "inch"), "image DPI"

    def _read(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        x, y = location
        w, h = size
        out = np.full((h, w, 3), 255, np.uint8)
        img_h, img_w = self._rgb.shape[:2]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, img_w), min(y + h, img_h)
        if x1 > x0 and y1 > y0:
            out[y0 - y : y1 - y, x0 - x : x1 - x] = self._rgb[y0:y1, x0:x1]
        return out
