"""features.h5: embeddings plus where they came from (TRIDENT layout for slide tiles)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import atomic_path


@dataclass
class FeatureSet:
    features: np.ndarray
    coords: np.ndarray | None
    paths: list[str] | None
    labels: list[str] | None
    attrs: dict[str, object]
    coords_attrs: dict[str, object] = field(default_factory=dict)

    def tile_names(self) -> list[str]:
        """One name per row, as a user finds the tile again: its file, or QuPath's `SLIDE [x=..,y=..,w=..,h=..]`."""
        if self.paths is not None:
            return list(self.paths)
        if self.coords is None or "patch_size_level0" not in self.coords_attrs:
            return [str(i) for i in range(len(self.features))]
        return coord_names(self.attrs, self.coords_attrs, self.coords)


def coord_names(attrs: dict[str, object], coords_attrs: dict[str, object], coords: np.ndarray) -> list[str]:
    """Slide tiles named as QuPath names them, from the tile set's name and level-0 box."""
    side = int(np.asarray(coords_attrs["patch_size_level0"]))
    slide = Path(str(attrs.get("source", "slide"))).name
    return [f"{slide} [x={x},y={y},w={side},h={side}]" for x, y in coords.tolist()]


@dataclass(frozen=True)
class FeatureHeader:
    """A features.h5 without its vectors: enough to plan a sharded read."""

    path: Path
    rows: int
    dim: int
    attrs: dict[str, object]
    coords_attrs: dict[str, object]
    has_coords: bool
    has_paths: bool
    has_labels: bool


def read_features_header(path: Path | str) -> FeatureHeader:
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:
            rows, dim = f["features"].shape
            coords_attrs = dict(f["coords"].attrs) if "coords" in f else {}
            return FeatureHeader(
                path, rows, dim, dict(f.attrs), coords_attrs, "coords" in f, "paths" in f, "labels" in f
            )
    except (OSError, KeyError, ValueError) as exc:
        raise PathsearchError(f"{path}: not a features.h5 from `pathsearch embed` ({exc})") from exc


def write_features_h5(
    path: Path,
    features: np.ndarray,
    attrs: dict[str, object],
    coords: np.ndarray | None = None,
    coords_attrs: dict[str, object] | None = None,
    paths: list[str] | None = None,
    labels: list[str] | None = None,
    half: bool = False,
) -> None:
    text = h5py.string_dtype()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("features", data=features.astype(np.float16 if half else np.float32))
        if coords is not None:
            ds = f.create_dataset("coords", data=coords.astype(np.int64))
            for key, value in (coords_attrs or {}).items():
                ds.attrs[key] = value
        if paths is not None:
            f.create_dataset("paths", data=np.array(paths, dtype=object), dtype=text)
        if labels is not None:
            f.create_dataset("labels", data=np.array(labels, dtype=object), dtype=text)
        for key, value in attrs.items():
            f.attrs[key] = value


def read_features_h5(path: Path | str) -> FeatureSet:
    path = Path(path)
    try:
        with h5py.File(path, "r") as f:

            def strings(key: str) -> list[str] | None:
                return texts(f[key][:]) if key in f else None

            return FeatureSet(
                features=f["features"][:].astype(np.float32),
                coords=f["coords"][:] if "coords" in f else None,
                paths=strings("paths"),
                labels=strings("labels"),
                attrs=dict(f.attrs),
                coords_attrs=dict(f["coords"].attrs) if "coords" in f else {},
            )
    except (OSError, KeyError) as exc:
        raise PathsearchError(f"{path}: not a features.h5 from `pathsearch embed` ({exc})") from exc


def texts(values: Iterable[bytes | str]) -> list[str]:
    """h5py hands variable-length strings back as bytes."""
    return [v.decode() if isinstance(v, bytes) else v for v in values]


def encoder_info(attrs: dict[str, object]) -> dict[str, object]:
    """The encoder's name and dimension as plain JSON values, for bank.json and the query check."""
    return {key: _plain(attrs[key]) for key in ("encoder", "dim") if key in attrs}


def _plain(value: object) -> object:
    return value.item() if hasattr(value, "item") else value


def check_same_encoder(ours: object, theirs: object, what_ours: str, what_theirs: str) -> None:
    """Equal dimensions are not enough: two 512-d encoders give unrelated spaces."""
    if ours is not None and theirs is not None and str(ours) != str(theirs):
        raise PathsearchError(
            f"{what_theirs} was embedded with {theirs} but {what_ours} with {ours}: embed both with the same --model"
        )
