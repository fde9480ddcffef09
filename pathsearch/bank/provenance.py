"""Where each bank vector came from, as arrays (a million tiles would be a million JSON objects otherwise).

provenance.h5: per vector `source` (row of the source tables) and `coords` (level-0 x, y; -1 for tile
files); per source `features` (the features.h5), `slide` (its slide file, '' for tile folders),
`patch_size_level0` (-1 for tile files) and `level0_mpp` (NaN when unknown).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from pathsearch.io.atomic import atomic_path
from pathsearch.io.features_h5 import texts

_TEXT = h5py.string_dtype()


@dataclass(frozen=True)
class Source:
    """One features.h5 of the bank, with what is needed to read its tiles again."""

    features: str
    slide: str
    patch_size_level0: int
    level0_mpp: float


@dataclass(frozen=True)
class TileOrigin:
    """A hit as a user finds it again: in QuPath at (x, y) level-0 px of `slide`, or as a tile file."""

    source: Source
    x: int
    y: int

    @property
    def size_level0_px(self) -> int:
        return self.source.patch_size_level0


@dataclass
class Provenance:
    source: np.ndarray  # int32 (N,)
    coords: np.ndarray  # int64 (N, 2)
    sources: list[Source]

    def __len__(self) -> int:
        return len(self.source)

    def origin(self, row: int) -> TileOrigin:
        x, y = (int(v) for v in self.coords[row])
        return TileOrigin(self.sources[int(self.source[row])], x, y)

    def concat(self, other: Provenance) -> Provenance:
        offset = len(self.sources)
        return Provenance(
            np.concatenate([self.source, other.source + offset]).astype(np.int32),
            np.concatenate([self.coords, other.coords]),
            self.sources + other.sources,
        )

    def save(self, path: Path) -> None:
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            table = f.create_group("sources")
            table.create_dataset("features", data=[s.features for s in self.sources], dtype=_TEXT)
            table.create_dataset("slide", data=[s.slide for s in self.sources], dtype=_TEXT)
            sides = [s.patch_size_level0 for s in self.sources]
            table.create_dataset("patch_size_level0", data=np.array(sides, np.int64))
            table.create_dataset("level0_mpp", data=np.array([s.level0_mpp for s in self.sources], np.float64))
            f.create_dataset("source", data=self.source.astype(np.int32))
            f.create_dataset("coords", data=self.coords.astype(np.int64))

    @classmethod
    def load(cls, path: Path) -> Provenance:
        with h5py.File(path, "r") as f:
            table = f["sources"]
            columns = [table[key][()] for key in ("features", "slide", "patch_size_level0", "level0_mpp")]
            sources = [
                Source(feat, slide, int(side), float(mpp))
                for feat, slide, side, mpp in zip(texts(columns[0]), texts(columns[1]), *columns[2:], strict=True)
            ]
            return cls(f["source"][()], f["coords"][()], sources)


def source_of(features: Path, attrs: dict[str, object], coords_attrs: dict[str, object]) -> Source:
    """The slide comes from the features' own `slide` attribute, or (older files) the tile set's manifest."""
    slide = str(attrs.get("slide", ""))
    manifest = Path(str(attrs.get("source", ""))) / "manifest.json"
    if not slide and coords_attrs and manifest.is_file():
        slide = json.loads(manifest.read_text()).get("inputs", {}).get("slide", {}).get("path", "")
    return Source(
        str(features.resolve()),
        slide,
        int(np.asarray(coords_attrs.get("patch_size_level0", -1))),
        float(np.asarray(coords_attrs.get("level0_mpp", np.nan))),
    )
