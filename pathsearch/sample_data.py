"""Sample slides for the demo: a local copy (offline machines) or a checksum-verified download."""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import atomic_path

SAMPLES = {
    "CMU-1-Small-Region.svs": (
        "https://openslide.cs.cmu.edu/download/openslide-testdata/Aperio/CMU-1-Small-Region.svs",
        "1ad6e35c9d17e4d85fb7e3143b328efe",
    ),
}


def _md5(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.md5(usedforsecurity=False)).hexdigest()


def sample_slide(name: str = "CMU-1-Small-Region.svs") -> Path:
    """PATHSEARCH_DATA_DIR (or its slides/) first; else download once into ~/.cache/pathsearch."""
    url, md5 = SAMPLES[name]
    data_dir = os.environ.get("PATHSEARCH_DATA_DIR")
    if data_dir:
        for candidate in (Path(data_dir) / name, Path(data_dir) / "slides" / name):
            if candidate.is_file():
                return candidate
    cached = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pathsearch" / name
    if cached.is_file() and _md5(cached) == md5:
        return cached
    try:
        with atomic_path(cached) as tmp:
            urllib.request.urlretrieve(url, tmp)  # noqa: S310 - fixed https URL
            if _md5(tmp) != md5:
                raise PathsearchError(f"{name}: checksum mismatch after download from {url}")
    except OSError as exc:
        raise PathsearchError(
            f"{name} is not in PATHSEARCH_DATA_DIR and could not be downloaded ({exc}); "
            f"fetch it from {url} and set PATHSEARCH_DATA_DIR to its folder"
        ) from exc
    return cached
