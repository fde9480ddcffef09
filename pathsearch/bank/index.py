"""faiss index factories: exact inner product by default; IVF, IVF-PQ or HNSW for large banks."""

from __future__ import annotations

import faiss
import numpy as np

from pathsearch.choices import IndexKind
from pathsearch.errors import PathsearchError

# faiss wants at least this many training points per IVF list (and per PQ centroid).
_POINTS_PER_CENTROID = 39


def pq_subquantizers(dim: int, requested: int | None) -> int:
    """Default: one 8-bit code per 4 dimensions (16x smaller than float32), the usual IVF-PQ trade-off."""
    if requested is not None:
        return requested
    return max(m for m in range(1, max(1, dim // 4) + 1) if dim % m == 0)


def empty_index(
    train: np.ndarray, kind: IndexKind, nlist: int, hnsw_m: int, nprobe: int, pq_m: int | None = None
) -> faiss.Index:
    """An index ready for `add`. IVF kinds learn their lists from `train` (a sample, for banks built in
    shards); small banks get fewer lists or shorter PQ codes, not an error."""
    dim = train.shape[1]
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    if kind == "hnsw":
        return faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    lists = max(1, min(nlist, len(train) // _POINTS_PER_CENTROID))
    quantizer = faiss.IndexFlatIP(dim)
    if kind == "ivf":
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    else:
        nbits = int(np.clip(np.log2(max(2, len(train) // _POINTS_PER_CENTROID)), 1, 8))
        m = pq_subquantizers(dim, pq_m)
        if dim % m:
            raise PathsearchError(f"--pq-m {m} does not divide the bank's {dim} dimensions; choose a divisor of {dim}")
        index = faiss.IndexIVFPQ(quantizer, dim, lists, m, nbits, faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    index.nprobe = min(nprobe, lists)
    return index


def build_index(
    vectors: np.ndarray, kind: IndexKind, nlist: int, hnsw_m: int, nprobe: int, pq_m: int | None = None
) -> faiss.Index:
    index = empty_index(vectors, kind, nlist, hnsw_m, nprobe, pq_m)
    index.add(vectors)
    return index
