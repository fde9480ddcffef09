"""The one `Slide` interface every backend implements, plus format-independent helpers."""

from __future__ import annotations

import abc
import math
from pathlib import Path

import cv2
import numpy as np

from pathsearch.errors import SlideError
from pathsearch.slide.mpp import check_mpp

# Source rows read per strip when building a thumbnail: bounds memory on single-level slides.
_MAX_STRIP_SOURCE_ROWS = 1024


class Slide(abc.ABC):
    """A multi-resolution RGB image; level 0 is the finest, coordinates are level-0 pixels."""

    backend: str = "abstract"

    def __init__(self, path: Path, mpp_override: float | None = None) -> None:
        self.path = path
        self._mpp_override = mpp_override

    @property
    @abc.abstractmethod
    def level_dimensions(self) -> list[tuple[int, int]]:
        """(width, height) of each level, finest first."""

    @property
    @abc.abstractmethod
    def properties(self) -> dict[str, str]:
        """Raw metadata as strings, for the manifest and for mpp resolution."""

    @abc.abstractmethod
    def metadata_mpp(self) -> tuple[float | None, str]:
        """Level-0 um/px found in the file's own metadata, and where it came from."""

    @abc.abstractmethod
    def _read(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """Backend read; the caller has already checked bounds-free arguments."""

    @property
    def associated_images(self) -> dict[str, np.ndarray]:
        return {}

    def close(self) -> None:  # noqa: B027 - backends without handles need nothing
        pass

    def __enter__(self) -> Slide:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def dimensions(self) -> tuple[int, int]:
        return self.level_dimensions[0]

    @property
    def level_count(self) -> int:
        return len(self.level_dimensions)

    @property
    def level_downsamples(self) -> list[float]:
        w0, h0 = self.dimensions
        return [(w0 / w + h0 / h) / 2.0 for w, h in self.level_dimensions]

    @property
    def mpp(self) -> float | None:
        """Level-0 um/px: the user's override wins, metadata is checked for plausibility."""
        if self._mpp_override is not None:
            return check_mpp(self._mpp_override, "--slide-mpp")
        value, source = self.metadata_mpp()
        return None if value is None else check_mpp(value, f"{self.path.name}: {source}")

    def require_mpp(self) -> float:
        mpp = self.mpp
        if mpp is None:
            raise SlideError(
                f"{self.path.name} has no microns-per-pixel metadata, so physical sizes "
                "(--target-mpp/--magnification, tissue area) are undefined; pass --slide-mpp "
                "(e.g. 0.25 for a 40x scan, 0.5 for 20x)"
            )
        return mpp

    def read_region(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """RGB uint8 (h, w, 3) at `level`, top-left given in level-0 pixels (as OpenSlide)."""
        if not 0 <= level < self.level_count:
            raise SlideError(f"{self.path.name}: level {level} out of range 0..{self.level_count - 1}")
        try:
            return self._read(location, level, size)
        except SlideError:
            raise
        except Exception as exc:  # decoder errors surface as many types; name the file instead
            raise SlideError(
                f"{self.path.name}: cannot decode pixels ({type(exc).__name__}: {exc}); the file "
                "is corrupt or uses an unsupported compression, re-export it as a tiled TIFF/SVS"
            ) from exc

    def read_block(self, location: tuple[int, int], level: int, size: tuple[int, int]) -> np.ndarray:
        """`read_region` for a large block on the level's own pixel grid (`slide.supertiles`); a backend
        with a faster decoder for whole stored tiles reads it that way, with the same pixels."""
        return self.read_region(location, level, size)

    def best_level_for_downsample(self, downsample: float, tolerance: float = 0.0) -> int:
        """Coarsest level not coarser than `downsample` (within a relative tolerance)."""
        best = 0
        for level, ds in enumerate(self.level_downsamples):
            if ds <= downsample * (1.0 + tolerance):
                best = level if ds >= self.level_downsamples[best] else best
        return best

    def thumbnail(self, downsample: float) -> tuple[np.ndarray, tuple[float, float]]:
        """Whole-slide RGB at ~`downsample` level-0 px per pixel, read in bounded strips.

        Returns the image and the exact (x, y) level-0 px per thumbnail px after rounding.
        """
        w0, h0 = self.dimensions
        out_w, out_h = max(1, round(w0 / downsample)), max(1, round(h0 / downsample))
        level = self.best_level_for_downsample(downsample)
        lw, lh = self.level_dimensions[level]
        sy = lh / out_h
        band = max(1, _MAX_STRIP_SOURCE_ROWS // max(1, math.ceil(sy)))
        out = np.empty((out_h, out_w, 3), np.uint8)
        ds_level = self.level_downsamples[level]
        for r0 in range(0, out_h, band):
            r1 = min(out_h, r0 + band)
            src0, src1 = math.floor(r0 * sy), min(lh, max(math.floor(r0 * sy) + 1, math.ceil(r1 * sy)))
            strip = self.read_region((0, round(src0 * ds_level)), level, (lw, src1 - src0))
            out[r0:r1] = cv2.resize(strip, (out_w, r1 - r0), interpolation=cv2.INTER_AREA)
        return out, (w0 / out_w, h0 / out_h)

    def probe(self) -> None:
        """Decode a few pixels now so a broken file fails at open, not halfway through a job."""
        level = self.level_count - 1
        w, h = self.level_dimensions[level]
        self.read_region((0, 0), level, (min(w, 16), min(h, 16)))


def rgba_to_rgb(rgba: np.ndarray) -> np.ndarray:
    """Composite on white: transparent areas outside a scan are background, not black tissue."""
    rgb = rgba[..., :3]
    alpha = rgba[..., 3:4]
    if alpha.min() == 255:
        return np.ascontiguousarray(rgb)
    a = alpha.astype(np.float32) / 255.0
    return (rgb.astype(np.float32) * a + 255.0 * (1.0 - a) + 0.5).astype(np.uint8)
