"""QuPath labelled exports: which files are the images and which are their label images."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
MASK_SUFFIX = "-labelled"  # QuPath's default labeledImageId
_LABEL_MODES = {"1", "L", "P", "I", "I;16"}


@dataclass(frozen=True)
class ExportItem:
    image: Path
    mask: Path | None


def export_items(files: Iterable[Path], label_id: str = MASK_SUFFIX) -> list[ExportItem]:
    """The images among `files`, each with its label image when the export has one.

    A label image is `STEM{label_id}.ext` (QuPath's labeledImageId), or, when the export set only a
    different labeledImageExtension, the single-channel one of two files that share a stem."""
    tagged: dict[tuple[Path, str], Path] = {}
    by_stem: dict[tuple[Path, str], list[Path]] = defaultdict(list)
    for path in sorted(p for p in files if p.suffix.lower() in IMAGE_EXTS):
        if label_id and path.stem.endswith(label_id):
            tagged[(path.parent, path.stem[: -len(label_id)])] = path
        else:
            by_stem[(path.parent, path.stem)].append(path)
    items = []
    for key, group in by_stem.items():
        labels = [p for p in group if _is_label_image(p)] if len(group) == 2 else []
        if len(labels) == 1:
            items.append(ExportItem(next(p for p in group if p != labels[0]), tagged.get(key, labels[0])))
        else:
            items.extend(ExportItem(p, tagged.get(key)) for p in group)
    return sorted(items, key=lambda item: item.image)


def _is_label_image(path: Path) -> bool:
    """QuPath writes labels as 8/16-bit single-channel or indexed images; tiles are RGB. Reads the header only."""
    try:
        with Image.open(path) as img:
            return img.mode in _LABEL_MODES
    except (UnidentifiedImageError, OSError):
        return False
