"""tiles.h5 in the CLAM/TRIDENT layout: a `coords` dataset whose attributes say how to read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import atomic_path
from pathsearch.slide.tiling import TileGeometry


@dataclass
class TileSet:
    coords: np.ndarray
    tissue_fraction: np.ndarray
    attrs: dict[str, object]


def write_tiles_h5(
    path: Path,
    coords: np.ndarray,
    tissue_fraction: np.ndarray,
    geometry: TileGeometry,
    slide_name: str,
    level_dimensions: list[tuple[int, int]],
) -> None:
    attrs: dict[str, object] = {
        # pathsearch / TRIDENT names
        "patch_size": geometry.patch_size,
        "patch_size_level0": geometry.patch_size_level0,
        "level0_mpp": geometry.level0_mpp,
        "target_mpp": geometry.target_mpp,
        "level0_magnification": 10.0 / geometry.level0_mpp,
        "target_magnification": 10.0 / geometry.target_mpp,
        "read_level": geometry.read_level,
        "read_size": geometry.read_size,
        "overlap": geometry.overlap,
        "step_level0": geometry.step_level0,
        "name": slide_name,
        # CLAM names: patch_level/patch_size describe the read at that level
        "patch_level": geometry.read_level,
        "downsample": np.array([geometry.read_downsample] * 2),
        "level_dim": np.array(level_dimensions[geometry.read_level]),
        "downsampled_level_dim": np.array(level_dimensions[geometry.read_level]),
    }
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        ds = f.create_dataset("coords", data=coords.astype(np.int64))
        f.create_dataset("tissue_fraction", data=tissue_fraction.astype(np.float32))
        for key, value in attrs.items():
            ds.attrs[key] = value
            f.attrs[key] = value


def read_tiles_h5(path: Path | str) -> TileSet:
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            coords = f["coords"][:]
            fraction = f["tissue_fraction"][:] if "tissue_fraction" in f else np.ones(len(coords))
            attrs = dict(f["coords"].attrs)
    except (OSError, KeyError) as exc:
        raise PathsearchError(f"{path}: not a tiles.h5 from `pathsearch tile` ({exc})") from exc
    return TileSet(coords, fraction, attrs)
