"""Class-level tile retrieval: a labelled tile is the query, and every bank tile of its class is relevant.

Pathology image-retrieval papers score it this way (precision@k, majority vote of the top 5, mAP@k).
Unlike a claim with one cited abstract, a tile has many right answers, spread over its class: the case
where sampling several probes can find what one cannot (issue 22).
"""

from __future__ import annotations

import numpy as np

TOP_K = 5


def fold_ids(labels: list[str], folds: int, seed: int) -> np.ndarray:
    """(n,) fold of each tile, dealt class by class in a seeded order, so every fold holds every class
    its size allows."""
    rng = np.random.default_rng(seed)
    out = np.empty(len(labels), dtype=np.int64)
    start = 0
    for label in sorted(set(labels)):
        rows = np.flatnonzero(np.asarray(labels) == label)
        out[rng.permutation(rows)] = (start + np.arange(len(rows))) % folds
        start += len(rows)
    return out


def tile_metrics(hits: np.ndarray, bank_labels: np.ndarray, query_labels: np.ndarray, k: int = TOP_K) -> dict[str, np.ndarray]:
    """Per query, from bank rows ranked best first (-1 = no hit): precision@1, precision@k, whether the
    majority of the top k is the query's class (ties to the better-ranked label), and average precision
    at k over the class's bank tiles (at most k of them counted)."""
    top = hits[:, :k]
    same = (top >= 0) & (bank_labels[np.maximum(top, 0)] == query_labels[:, None])
    relevant = np.array([np.sum(bank_labels == q) for q in query_labels])
    precision_at = np.cumsum(same, axis=1) / np.arange(1, k + 1)
    ap = (precision_at * same).sum(axis=1) / np.maximum(np.minimum(relevant, k), 1)
    return {
        "precision@1": same[:, 0].astype(float),
        f"precision@{k}": same.mean(axis=1),
        f"mv@{k}": np.array([_majority(bank_labels[row[row >= 0]]) == q for row, q in zip(top, query_labels, strict=True)], dtype=float),
        f"map@{k}": ap,
    }


def _majority(labels: np.ndarray) -> str | None:
    if not len(labels):
        return None
    values, first, counts = np.unique(labels, return_index=True, return_counts=True)
    return str(values[np.lexsort((first, -counts))[0]])
