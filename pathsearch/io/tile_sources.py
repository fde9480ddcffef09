"""Every tile input -> one indexable source of RGB tiles: slide tile sets and tile folders."""

from __future__ import annotations

import abc
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from pathsearch.errors import PathsearchError
from pathsearch.io.exports import MASK_SUFFIX, export_items
from pathsearch.io.qupath import TileName, parse_tile_name
from pathsearch.io.tiles_h5 import read_tiles_h5
from pathsearch.slide.base import Slide
from pathsearch.slide.open import open_slide
from pathsearch.slide.supertiles import TileReads, plan_reads, read_group
from pathsearch.slide.tiling import read_box, read_tile


def read_rgb(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise PathsearchError(f"{path}: unreadable image ({exc}); remove or replace it") from exc


def read_mask(path: Path) -> np.ndarray:
    """A label image as its raw values (QuPath writes 8-bit or palette PNGs; RGB is read as grey)."""
    try:
        with Image.open(path) as img:
            return np.asarray(img if img.mode in ("L", "P", "I", "I;16") else img.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise PathsearchError(f"{path}: unreadable mask ({exc}); remove or replace it") from exc


@dataclass
class SlideTiles:
    """Tiles read straight from the slide at the recorded level and size: no PNG round trip.

    Indexing reads one tile; `read_unit` reads a block's tiles at once (`slide.supertiles`), the fast
    way through a whole tile set."""

    slide_path: Path
    coords: np.ndarray
    attrs: dict[str, object]
    slide_mpp: float | None = None
    _slide: Slide | None = field(default=None, repr=False)
    _reads: TileReads | None = field(default=None, repr=False)
    _opened_by: int = field(default=0, repr=False)  # pid

    def __len__(self) -> int:
        return len(self.coords)

    def __getitem__(self, i: int) -> np.ndarray:
        level, size, out = self._geometry()
        x, y = (int(v) for v in self.coords[i])
        return read_tile(self._open(), (x, y), level, size, out)

    def read_units(self) -> int:
        return len(self._plan().groups)

    def read_unit(self, u: int) -> list[tuple[int, np.ndarray]]:
        """(tile index, tile) for every tile of block u."""
        return list(read_group(self._open(), self._plan(), u))

    def _open(self) -> Slide:
        """Opened lazily, and again in each forked DataLoader worker: a handle inherited over fork shares
        its file offset with the parent's, so tifffile's seek-then-read in two processes reads garbage."""
        if self._slide is None or self._opened_by != os.getpid():
            self._slide, self._opened_by = open_slide(self.slide_path, mpp=self.slide_mpp), os.getpid()
        return self._slide

    def _plan(self) -> TileReads:
        if self._reads is None:
            self._reads = plan_reads(self._open(), self.coords, *self._geometry())
        return self._reads

    def _geometry(self) -> tuple[int, int, int]:
        level, read_size, patch_size = (int(self.attrs[k]) for k in ("read_level", "read_size", "patch_size"))
        return level, read_size, patch_size

    def __getstate__(self) -> dict[str, object]:
        return {**self.__dict__, "_slide": None}


class OneByOne(abc.ABC):
    """Sources whose tiles are read one at a time: each tile is its own read unit."""

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, i: int) -> np.ndarray: ...

    def read_units(self) -> int:
        return len(self)

    def read_unit(self, u: int) -> list[tuple[int, np.ndarray]]:
        return [(u, self[u])]


@dataclass
class FolderTiles(OneByOne):
    paths: list[Path]
    labels: list[str] | None
    boxes: list[TileName | None]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        return read_rgb(self.paths[i])


@dataclass
class ImageTiles(OneByOne):
    """Tiles already in memory: crops of an image, augmented views."""

    images: Sequence[np.ndarray]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.images[i]


TileSource = SlideTiles | FolderTiles | ImageTiles


def _mask_label(mask_path: Path, names: dict[int, str]) -> str:
    values = read_mask(mask_path)
    value = int(Counter(values.ravel().tolist()).most_common(1)[0][0])
    check_named(mask_path, [value], names)
    return names.get(value, str(value))


def check_named(mask_path: Path, values: list[int], names: dict[int, str]) -> None:
    """With a name mapping, every label value must be in it: an unnamed value is a broken export."""
    unnamed = [v for v in values if names and v not in names]
    if unnamed:
        raise PathsearchError(
            f"{mask_path}: label {unnamed[0]} is not named in the export's -tiles.json ({names}); fix the mapping"
        )


def label_names(folder: Path) -> dict[int, str]:
    """Label value -> class name from a QuPath export's `*-tiles.json`; empty when it has none."""
    for meta in folder.glob("*-tiles.json"):
        data = json.loads(meta.read_text())
        labels = data.get("labels", data) if isinstance(data, dict) else {}
        if isinstance(labels, dict):
            return {int(v): str(k) for k, v in labels.items() if str(v).lstrip("-").isdigit()}
    return {}


def folder_tiles(folder: Path, label_id: str = MASK_SUFFIX) -> FolderTiles:
    """Class subfolders (folder name = label) or a QuPath export (labels from its label images)."""
    items = export_items((p for p in folder.rglob("*") if p.is_file()), label_id)
    if not items:
        raise PathsearchError(f"{folder}: no tile images (png/jpg/tif) found; point at a tile folder")
    images = [item.image for item in items]
    labels: list[str] | None = None
    if {p.parent for p in images} != {folder}:
        labels = [p.parent.relative_to(folder).parts[0] for p in images]
    elif all(item.mask for item in items):
        names = label_names(folder)
        labels = [_mask_label(item.mask, names) for item in items if item.mask]
    return FolderTiles(images, labels, [parse_tile_name(p.name) for p in images])


def open_tile_source(path: Path | str, slide_mpp: float | None = None) -> SlideTiles | FolderTiles:
    path = Path(path)
    if not path.exists():
        raise PathsearchError(f"{path}: no such file or folder")
    if (path / "tiles.h5").is_file():
        tiles = read_tiles_h5(path / "tiles.h5")
        manifest = json.loads((path / "manifest.json").read_text())
        slide_path = Path(manifest["inputs"]["slide"]["path"])
        mpp = slide_mpp or manifest["params"].get("slide_mpp")
        return SlideTiles(slide_path, tiles.coords, tiles.attrs, mpp)
    if path.is_dir():
        return folder_tiles(path)
    raise PathsearchError(
        f"{path}: expected a tile set from `pathsearch tile` (with tiles.h5) or a folder of tiles"
    )


class TileImages:
    """Tiles found again from where they came from, for pictures: a slide's level-0 box, or a tile file.

    A source that is gone or unreadable gives None: a picture of results must not fail on one lost slide.
    """

    def __init__(self, cell_px: int) -> None:
        self.cell_px = cell_px
        self._slides: dict[str, Slide | None] = {}

    def from_slide(self, slide_path: str, x: int, y: int, size_level0_px: int) -> np.ndarray | None:
        if slide_path not in self._slides:
            try:
                self._slides[slide_path] = open_slide(Path(slide_path))
            except PathsearchError:
                self._slides[slide_path] = None
        slide = self._slides[slide_path]
        if slide is None:
            return None
        try:
            return read_box(slide, (x, y, size_level0_px, size_level0_px), max(1.0, size_level0_px / self.cell_px))
        except PathsearchError:
            return None

    def from_file(self, path: str) -> np.ndarray | None:
        try:
            return read_rgb(Path(path))
        except PathsearchError:
            return None

    def close(self) -> None:
        for slide in self._slides.values():
            if slide is not None:
                slide.close()
