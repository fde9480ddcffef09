"""QuPath-importable GeoJSON: FeatureCollections of polygons in level-0 pixel coordinates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pathsearch.io.atomic import write_json

Ring = Sequence[tuple[float, float]]


def closed_ring(points: Ring) -> list[list[float]]:
    ring = [[float(x), float(y)] for x, y in points]
    if ring and ring[0] != ring[-1]:
        ring.append(ring[0])
    return ring


def polygon_feature(
    exterior: Ring,
    holes: Sequence[Ring] = (),
    object_type: str = "annotation",
    classification: dict[str, Any] | None = None,
    properties: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One QuPath object; `objectType` is what QuPath reads to tell annotations from detections."""
    props: dict[str, Any] = {"objectType": object_type}
    if classification:
        props["classification"] = classification
    props.update(properties or {})
    return {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [closed_ring(exterior), *(closed_ring(h) for h in holes)],
        },
        "properties": props,
    }


def write_feature_collection(path: Path | str, features: list[dict[str, Any]]) -> None:
    write_json(path, {"type": "FeatureCollection", "features": features}, indent=None)
