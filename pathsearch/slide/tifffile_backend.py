"""tifffile for TIFF/OME-TIFF that OpenSlide refuses; regions come lazily through zarr."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import zarr

from pathsearch.errors import SlideError
from pathsearch.slide.base import Slide
from pathsearch.slide.mpp import mpp_from_resolution

_ASSOCIATED = ("label", "macro", "thumbnail", "overview")
_OME_MPP_RE = re.compile(r'PhysicalSizeX="([0-9.eE+-]+)"')
_OME_UNIT_RE = re.compile(r'PhysicalSizeXUnit="([^"]+)"')
_OME_UNIT_UM = {"µm": 1.0, "um": 1.0, "nm": 1e-3, "mm": 1e3}


def _to_rgb(region: np.ndarray, axes: str) -> np.ndarray:
    if axes == "YX":
        return np.repeat(region[..., None], 3, axis=2)
    if axes == "CYX":
        region = np.moveaxis(region, 0, -1)
    if region.shape[-1] == 4:
        region = region[..., :3]
    if region.dtype != np.uint8:
        hi = float(region.max()) or 1.0
        region = (region.astype(np.float32) * (255.0 / hi)).astype(np.uint8)
    return np.ascontiguousarray(region)


class TiffFileSlide(Slide):
    backend = "tifffile"

    def __init__(self, path: Path, mpp_override: float | None = None) -> None:
        super().__init__(path, mpp_override)
        self._tif = tifffile.TiffFile(str(path))
        series = self._tif.series[0]
        if series.axes not in ("YXS", "YX", "CYX"):
            self._tif.close()
            raise SlideError(
                f"{path.name}: TIFF axes {series.axes!r} are not a 2-D RGB or grey image; "
                "export a single-plane RGB pyramid"
            )
        self._axes = series.axes
        # Missing tiles read as white glass, as OpenSlide shows them and as reads past the edge are padded.
        fill = 255 if series.dtype == np.uint8 else None
        self._levels: list[Any] = [
            zarr.open(series.aszarr(level=i, fillvalue=fill), mode="r") for i in range(len(series.levels))
        ]
        yx = (0, 1) if series.axes != "CYX" else (1, 2)
        self._dims = [(int(z.shape[yx[1]]), int(z.shape[yx[0]])) for z in self._levels]

    @property
    def level_dimensions(self) -> list[tuple[int, int]]:
        return self._dims

    @property
    def properties(self) -> dict[str, str]:
        page = self._tif.pages[0]
        return {f"tiff.{tag.name}": str(tag.value)[:200] for tag in page.tags.values()}

    def metadata_mpp(self) -> tuple[float | None, str]:
        ome = self._tif.ome_metadata
        if ome and (match := _OME_MPP_RE.search(ome)):
            unit = _OME_UNIT_RE.search(ome)
            scale = _OME_UNIT_UM.get(unit.group(1) if unit else "µm", 1.0)
            return float(match.group(1)) * scale, "OME PhysicalSizeX"
        tags = self._tif.pages[0].tags
        res, unit = tags.get("XResolution"), tags.get("ResolutionUnit")
        if res is None or unit is None:
            return None, "TIFF resolution tags (absent)"
        num, den = res.value
        return mpp_from_resolution(num / den if den else 0.0, unit.value.name), "TIFF XResolution"

    @property
    def associated_images(self) -> dict[str, np.ndarray]:
        found = {}
        for series in self._tif.series[1:]:
            name = (series.name or "").lower()
            if name in _ASSOCIATED and series.axes in ("YXS", "YX", "CYX"):
                found[name] = _to_rgb(series.asarray(), series.axes)
        return found

    def _read(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        ds = self.level_downsamples[level]
        x, y = round(location[0] / ds), round(location[1] / ds)
        w, h = size
        lw, lh = self._dims[level]
        out = np.full((h, w, 3), 255, np.uint8)
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, lw), min(y + h, lh)
        if x1 > x0 and y1 > y0:
            z = self._levels[level]
            region = z[:, y0:y1, x0:x1] if self._axes == "CYX" else z[y0:y1, x0:x1]
            out[y0 - y : y1 - y, x0 - x : x1 - x] = _to_rgb(np.asarray(region), self._axes)
        return out

    def close(self) -> None:
        self._tif.close()
