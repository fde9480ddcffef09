"""A retrieval dataset in BEIR layout with precomputed embeddings (corpus.npy, queries.npy, qrels/*.tsv)."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from pathsearch.errors import PathsearchError


@dataclass(frozen=True)
class RetrievalDataset:
    root: Path
    corpus: np.ndarray
    corpus_ids: list[str]
    queries: np.ndarray
    query_ids: list[str]

    # Cached: read once per query in loops, and rebuilding them each time made those loops quadratic.
    @cached_property
    def corpus_row(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.corpus_ids)}

    @cached_property
    def query_row(self) -> dict[str, int]:
        return {q: i for i, q in enumerate(self.query_ids)}

    def judged(self, qrels: Mapping[str, Mapping[str, int]]) -> tuple[list[str], np.ndarray]:
        """Ids (in row order) and rows of the queries with a relevant document: the ones metrics score."""
        ids = [q for q in self.query_ids if q in qrels and any(g > 0 for g in qrels[q].values())]
        return ids, np.array([self.query_row[q] for q in ids], dtype=np.int64)

    def qrels(self, split: str) -> dict[str, dict[str, int]]:
        path = self.root / "qrels" / f"{split}.tsv"
        if not path.is_file():
            found = sorted(p.stem for p in (self.root / "qrels").glob("*.tsv"))
            raise PathsearchError(f"no qrels for split '{split}' at {path}; splits found: {', '.join(found) or 'none'}")
        qrels: dict[str, dict[str, int]] = defaultdict(dict)
        with path.open(newline="") as f:
            rows = csv.reader(f, delimiter="\t")
            next(rows, None)  # BEIR header: query-id, corpus-id, score
            for line, row in enumerate(rows, start=2):
                if len(row) < 3:
                    raise PathsearchError(f"{path}:{line}: expected query-id<TAB>corpus-id<TAB>score")
                qrels[row[0]][row[1]] = int(float(row[2]))
        unknown = [q for q in qrels if q not in self.query_row]
        if unknown:
            raise PathsearchError(f"{path}: {len(unknown)} query ids are not in query_ids.txt (first: {unknown[0]})")
        return dict(qrels)


def load_retrieval_dataset(root: Path | str) -> RetrievalDataset:
    root = Path(root)
    needed = ["corpus.npy", "corpus_ids.txt", "queries.npy", "query_ids.txt"]
    missing = [name for name in needed if not (root / name).is_file()]
    if missing:
        raise PathsearchError(f"{root} is not a retrieval dataset: missing {', '.join(missing)}")
    corpus, queries = np.load(root / "corpus.npy"), np.load(root / "queries.npy")
    corpus_ids = (root / "corpus_ids.txt").read_text().split()
    query_ids = (root / "query_ids.txt").read_text().split()
    for name, arr, ids in (("corpus", corpus, corpus_ids), ("queries", queries, query_ids)):
        if arr.ndim != 2 or len(arr) != len(ids):
            raise PathsearchError(f"{name}.npy has shape {arr.shape} but {name} ids list {len(ids)} rows")
    if corpus.shape[1] != queries.shape[1]:
        raise PathsearchError(f"corpus dim {corpus.shape[1]} != query dim {queries.shape[1]}: embed both with one model")
    return RetrievalDataset(root, corpus.astype(np.float32), corpus_ids, queries.astype(np.float32), query_ids)
