"""faiss index factories: exact inner product by default, IVF or HNSW for large banks."""

from __future__ import annotations

import faiss
import numpy as np

from pathsearch.choices import IndexKind


def build_index(vectors: np.ndarray, kind: IndexKind, nlist: int, hnsw_m: int, nprobe: int) -> faiss.Index:
    dim = vectors.shape[1]
    if kind == "flat":
        index = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    else:
        # IVF needs enough points per list to train; small banks get fewer lists, not an error.
        lists = max(1, min(nlist, len(vectors) // 39))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = min(nprobe, lists)
    index.add(vectors)
    return index
