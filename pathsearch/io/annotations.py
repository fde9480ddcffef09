"""Read QuPath GeoJSON annotations: classified polygons in level-0 pixels."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pathsearch.errors import PathsearchError


@dataclass(frozen=True)
class ClassPolygon:
    name: str
    exterior: np.ndarray  # (K, 2) level-0 x, y
    holes: tuple[np.ndarray, ...]


def read_annotations(path: Path | str) -> list[ClassPolygon]:
    """FeatureCollection, a bare list of features (QuPath's 'export as array') or one Feature."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise PathsearchError(f"{path}: not readable GeoJSON ({exc})") from exc
    features = data.get("features", [data]) if isinstance(data, dict) else data
    polygons: list[ClassPolygon] = []
    for i, feature in enumerate(features):
        geometry = (feature or {}).get("geometry") or {}
        kind = geometry.get("type")
        if kind not in ("Polygon", "MultiPolygon"):
            continue  # points, lines: nothing to tile
        name = _class_name(feature.get("properties") or {})
        if name is None:
            raise PathsearchError(
                f"{path}: feature {i} has no classification name; set a class on every annotation in QuPath"
            )
        parts = geometry["coordinates"] if kind == "MultiPolygon" else [geometry["coordinates"]]
        for rings in parts:
            arrays = [np.asarray(r, np.float64)[:, :2] for r in rings]
            polygons.append(ClassPolygon(name, arrays[0], tuple(arrays[1:])))
    if not polygons:
        raise PathsearchError(f"{path}: no classified polygons found; draw area annotations and set their class")
    return polygons


def _class_name(props: dict[str, Any]) -> str | None:
    cls = props.get("classification")
    if isinstance(cls, dict) and cls.get("name"):
        return str(cls["name"])
    if isinstance(cls, str) and cls:
        return cls
    return None
