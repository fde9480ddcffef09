"""Pick a backend: OpenSlide first, then tifffile for TIFFs, then PIL for plain images."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openslide

from pathsearch.errors import SlideError
from pathsearch.slide.base import Slide
from pathsearch.slide.openslide_backend import OpenSlideSlide
from pathsearch.slide.pil_backend import PILSlide
from pathsearch.slide.tifffile_backend import TiffFileSlide

_TIFF_SUFFIXES = {".tif", ".tiff", ".svs", ".btf", ".ome.tif", ".ome.tiff", ".qptiff"}
_PIL_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def _candidates(path: Path) -> list[tuple[str, Callable[..., Slide]]]:
    suffix = path.suffix.lower()
    backends: list[tuple[str, Callable[..., Slide]]] = [("OpenSlide", OpenSlideSlide)]
    if suffix in _TIFF_SUFFIXES:
        backends.append(("tifffile", TiffFileSlide))
    if suffix in _PIL_SUFFIXES:
        backends = [("PIL", PILSlide)]
    return backends


def open_slide(path: Path | str, mpp: float | None = None) -> Slide:
    """Open any supported slide and decode a few pixels, so broken files fail here."""
    path = Path(path)
    if not path.exists():
        raise SlideError(f"{path}: no such file; check the path")
    if path.is_dir() and path.suffix.lower() != ".mrxs":
        raise SlideError(f"{path}: is a folder, not a slide; pass the slide file itself")
    reasons = []
    for name, backend in _candidates(path):
        try:
            slide = backend(path, mpp)
            slide.probe()
            return slide
        except (SlideError, openslide.OpenSlideError, OSError, ValueError) as exc:
            reason = (str(exc) or type(exc).__name__).splitlines()[0]
            reasons.append(f"{name}: {reason.removeprefix(f'{path.name}: ').split('; ')[0]}")
    raise SlideError(
        f"{path.name}: not a readable slide ({'; '.join(reasons)}); check that the file is a "
        "complete SVS/NDPI/MRXS/TIFF/DICOM/PNG/JPEG image"
    )
