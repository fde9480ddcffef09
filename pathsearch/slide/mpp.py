"""Resolve microns-per-pixel from whatever metadata a slide carries, and refuse nonsense."""

from __future__ import annotations

from collections.abc import Mapping

from pathsearch.errors import SlideError

MPP_RANGE_UM = (0.05, 20.0)
_UM_PER_UNIT = {"centimeter": 1e4, "cm": 1e4, "inch": 25400.0, "3": 1e4, "2": 25400.0}
_VENDOR_KEYS = ("openslide.mpp-x", "aperio.MPP", "hamamatsu.XResolution", "mirax.GENERAL.MPP")


def mpp_from_resolution(x_resolution: float, unit: str | int | None) -> float | None:
    """TIFF XResolution is pixels per unit; only cm and inch carry a physical size."""
    if not x_resolution or unit is None:
        return None
    key = str(unit).lower().split(".")[-1]
    um_per_unit = _UM_PER_UNIT.get(key)
    return um_per_unit / float(x_resolution) if um_per_unit else None


def mpp_from_properties(props: Mapping[str, str]) -> float | None:
    """OpenSlide's normalised key first, then vendor keys, then TIFF resolution tags."""
    for key in _VENDOR_KEYS:
        if props.get(key):
            try:
                value = float(props[key])
            except ValueError:
                continue
            if value > 0:
                return value
    res = props.get("tiff.XResolution")
    if res:
        try:
            return mpp_from_resolution(float(res), props.get("tiff.ResolutionUnit"))
        except ValueError:
            return None
    return None


def check_mpp(mpp: float, source: str) -> float:
    lo, hi = MPP_RANGE_UM
    if not lo <= mpp <= hi:
        raise SlideError(
            f"{source} gives {mpp:.4g} um/px, outside the plausible {lo}-{hi} um/px range for "
            "microscopy; pass the real value with --slide-mpp (e.g. 0.25 for 40x, 0.5 for 20x)"
        )
    return mpp


def magnification_to_mpp(magnification: float) -> float:
    """The field's convention: 10 um/px at 1x, so 20x ~ 0.5 um/px and 40x ~ 0.25 um/px."""
    if magnification <= 0:
        raise SlideError(f"--magnification must be positive, got {magnification}")
    return 10.0 / magnification
