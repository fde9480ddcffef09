"""Training pairs (c, x): a condition embedding and the embedding of something relevant to it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from pathsearch.errors import PathsearchError


@dataclass(frozen=True)
class Pairs:
    cond: np.ndarray
    target: np.ndarray

    def __post_init__(self) -> None:
        if self.cond.ndim != 2 or self.target.ndim != 2 or len(self.cond) != len(self.target):
            raise PathsearchError("pairs need two N x D arrays with the same N")

    def __len__(self) -> int:
        return len(self.cond)

    def split(self, val_fraction: float, seed: int, max_val: int | None = None) -> tuple[Pairs, Pairs]:
        """Random pairs, not whole queries: on SciFact holding out whole claims did worse (BENCHMARKS.md)."""
        order = np.random.default_rng(seed).permutation(len(self))
        cap = len(self) if max_val is None else max_val
        n_val = min(int(round(len(self) * val_fraction)), cap) if len(self) > 1 else 0
        return self.take(order[n_val:]), self.take(order[:n_val])

    def take(self, rows: np.ndarray) -> Pairs:
        return Pairs(self.cond[rows], self.target[rows])

    @staticmethod
    def concat(parts: Iterable[Pairs]) -> Pairs:
        parts = [p for p in parts if len(p)]
        if not parts:
            raise PathsearchError("no training pairs: the support or train split is empty")
        return Pairs(np.concatenate([p.cond for p in parts]), np.concatenate([p.target for p in parts]))


def qrel_pairs(
    queries: np.ndarray,
    query_row: Mapping[str, int],
    corpus: np.ndarray,
    corpus_row: Mapping[str, int],
    qrels: Mapping[str, Mapping[str, int]],
) -> Pairs:
    """Query -> each relevant document (score > 0)."""
    rows = [
        (query_row[q], corpus_row[d])
        for q, docs in qrels.items()
        if q in query_row
        for d, score in docs.items()
        if score > 0 and d in corpus_row
    ]
    q_idx, d_idx = (np.array(r, dtype=np.int64) for r in zip(*rows, strict=True)) if rows else ([], [])
    return Pairs(queries[q_idx].reshape(len(rows), -1), corpus[d_idx].reshape(len(rows), -1))


def label_pairs(features: np.ndarray, labels: list[str], per_item: int, seed: int) -> Pairs:
    """Tile -> another tile of the same label, `per_item` draws per tile."""
    rng = np.random.default_rng(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    src, dst = [], []
    for i, label in enumerate(labels):
        others = [j for j in by_label[label] if j != i]
        if others:
            src.extend([i] * per_item)
            dst.extend(rng.choice(others, size=per_item).tolist())
    return Pairs(features[src].reshape(len(src), -1), features[dst].reshape(len(dst), -1))


def view_pairs(views: np.ndarray, originals: np.ndarray) -> Pairs:
    """Augmented view -> its original tile (row i of `views` is a view of row i of `originals`)."""
    return Pairs(np.asarray(views, dtype=np.float32), np.asarray(originals, dtype=np.float32))


def text_pairs(sentences: np.ndarray, doc_rows: np.ndarray, corpus: np.ndarray) -> Pairs:
    """Sentence or title embedding -> the document it came from: self-supervised, no labels needed."""
    return Pairs(np.asarray(sentences, dtype=np.float32), corpus[np.asarray(doc_rows, dtype=np.int64)])
