"""PCA through faiss, so the bank's projection is saved and loaded with the same library as its index."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from pathsearch.errors import PathsearchError


def l2_normalise(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def fit_pca(vectors: np.ndarray, out_dim: int, whiten: bool = False) -> faiss.PCAMatrix:
    n, in_dim = vectors.shape
    if not 1 <= out_dim <= min(n, in_dim):
        raise PathsearchError(
            f"--pca-dim {out_dim} is impossible for {n} vectors of dimension {in_dim}: "
            f"choose 1..{min(n, in_dim)} or leave PCA off"
        )
    pca = faiss.PCAMatrix(in_dim, out_dim, -0.5 if whiten else 0.0)
    pca.epsilon = 1e-6  # whitening a near-zero eigenvalue would otherwise blow up to inf
    pca.train(np.ascontiguousarray(vectors, dtype=np.float32))
    return pca


def apply_pca(pca: faiss.VectorTransform | None, vectors: np.ndarray) -> np.ndarray:
    """Cosine search stays cosine: re-normalise after the projection."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    if pca is not None:
        x = pca.apply(x)
    return l2_normalise(x)


def save_pca(pca: faiss.PCAMatrix, path: Path) -> None:
    faiss.write_VectorTransform(pca, str(path))


def load_pca(path: Path) -> faiss.VectorTransform:
    # Not downcast: the downcast wrapper does not own the C++ object, which is freed under it.
    return faiss.read_VectorTransform(str(path))
