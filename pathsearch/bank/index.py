"""faiss index factories: exact inner product by default; IVF, IVF-PQ or HNSW for large banks."""

from __future__ import annotations

import faiss
import numpy as np

from pathsearch.bank.config import BankConfig
from pathsearch.errors import PathsearchError

# faiss wants at least this many training points per IVF list (and per PQ centroid).
_POINTS_PER_CENTROID = 39


def pq_subquantizers(dim: int, requested: int | None) -> int:
    """Default: one 8-bit code per 4 dimensions (16x smaller than float32), the usual IVF-PQ trade-off."""
    if requested is not None:
        return requested
    return max(m for m in range(1, max(1, dim // 4) + 1) if dim % m == 0)


def empty_index(train: np.ndarray, config: BankConfig) -> faiss.Index:
    """An index ready for `add`. IVF kinds learn their lists from `train` (a sample, for banks built in
    shards); small banks get fewer lists or shorter PQ codes, not an error."""
    dim = train.shape[1]
    if config.index == "flat":
        return faiss.IndexFlatIP(dim)
    if config.index == "hnsw":
        return tune(faiss.IndexHNSWFlat(dim, config.hnsw_m, faiss.METRIC_INNER_PRODUCT), config)
    lists = max(1, min(config.nlist, len(train) // _POINTS_PER_CENTROID))
    quantizer = faiss.IndexFlatIP(dim)
    if config.index == "ivf":
        index = faiss.IndexIVFFlat(quantizer, dim, lists, faiss.METRIC_INNER_PRODUCT)
    else:
        nbits = int(np.clip(np.log2(max(2, len(train) // _POINTS_PER_CENTROID)), 1, 8))
        m = pq_subquantizers(dim, config.pq_m)
        if dim % m:
            raise PathsearchError(f"--pq-m {m} does not divide the bank's {dim} dimensions; choose a divisor of {dim}")
        index = faiss.IndexIVFPQ(quantizer, dim, lists, m, nbits, faiss.METRIC_INNER_PRODUCT)
    index.train(np.ascontiguousarray(train, dtype=np.float32))
    return tune(index, config)


def tune(index: faiss.Index, config: BankConfig) -> faiss.Index:
    """Search-time knobs, set again at load: they come from bank.json, not from what faiss saved."""
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = config.ef_search
    elif isinstance(index, faiss.IndexIVF):
        index.nprobe = min(config.nprobe, index.nlist)
    return index


def build_index(vectors: np.ndarray, config: BankConfig) -> faiss.Index:
    index = empty_index(vectors, config)
    index.add(vectors)
    return index
