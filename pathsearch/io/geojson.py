"""QuPath-importable GeoJSON: FeatureCollections of polygons in level-0 pixel coordinates."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

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


def mask_rings(mask: np.ndarray) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Outer rings of a binary mask with their holes, as (N, 2) pixel corners; callers map to level 0."""
    contours, hierarchy = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return []
    rings = []
    for i, (_, _, first_child, parent) in enumerate(hierarchy[0]):
        if parent != -1 or len(contours[i]) < 3:
            continue
        holes, child = [], first_child
        while child != -1:
            if len(contours[child]) >= 3:
                holes.append(contours[child].reshape(-1, 2).astype(np.float64))
            child = hierarchy[0][child][0]
        rings.append((contours[i].reshape(-1, 2).astype(np.float64), holes))
    return rings


def write_feature_collection(path: Path | str, features: list[dict[str, Any]]) -> None:
    write_json(path, {"type": "FeatureCollection", "features": features}, indent=None)
