"""One folder holds everything a search needs; adding vectors never forces a rebuild."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from pathsearch.bank.config import BankConfig
from pathsearch.bank.index import build_index, tune
from pathsearch.bank.pca import apply_pca, fit_pca, load_pca, save_pca
from pathsearch.bank.provenance import Provenance
from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import atomic_dir
from pathsearch.io.manifest import package_versions


class ReferenceBank:
    """Vectors live in the search space (after PCA, L2-normalised); `project` maps raw embeddings there."""

    def __init__(
        self,
        config: BankConfig,
        input_dim: int,
        pca: faiss.VectorTransform | None,
        vectors: np.ndarray,
        ids: list[str],
        labels: list[str] | None,
        provenance: Provenance | None,
        index: faiss.Index | None = None,
        info: dict[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.info = dict(info or {})  # where the vectors came from (encoder, source), kept in bank.json
        self.input_dim = input_dim
        self.pca = pca
        self.vectors = vectors
        self.ids = ids
        self.labels = labels
        self.provenance = provenance  # slide, level-0 x, y of each vector, when known
        self.index = index or build_index(vectors, config)

    @classmethod
    def build(
        cls,
        embeddings: np.ndarray,
        ids: list[str],
        labels: list[str] | None = None,
        provenance: Provenance | None = None,
        config: BankConfig | None = None,
        info: dict[str, Any] | None = None,
    ) -> ReferenceBank:
        config = config or BankConfig()
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or len(embeddings) == 0:
            raise PathsearchError("a reference bank needs a non-empty N x D array of embeddings")
        _check_lengths(len(embeddings), ids, labels, provenance)
        pca = fit_pca(embeddings, config.pca_dim, config.whiten) if config.pca_dim else None
        vectors = apply_pca(pca, embeddings)
        return cls(config, embeddings.shape[1], pca, vectors, list(ids), _opt(labels), provenance, info=info)

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return len(self.ids)

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        embeddings = np.atleast_2d(np.asarray(embeddings, dtype=np.float32))
        if embeddings.shape[1] != self.input_dim:
            raise PathsearchError(
                f"embedding dimension {embeddings.shape[1]} does not match the bank's {self.input_dim}: "
                "embed the queries with the same model as the bank"
            )
        return apply_pca(self.pca, embeddings)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Search already-projected vectors; returns (scores, row indices), -1 where fewer than k exist."""
        return self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), min(k, len(self)))

    def add(
        self,
        embeddings: np.ndarray,
        ids: list[str],
        labels: list[str] | None = None,
        provenance: Provenance | None = None,
    ) -> None:
        if (labels is None) != (self.labels is None) or (provenance is None) != (self.provenance is None):
            raise PathsearchError("added items must carry labels and provenance exactly when the bank does")
        _check_lengths(len(embeddings), ids, labels, provenance)
        vectors = self.project(embeddings)
        self.index.add(vectors)
        self.vectors = np.concatenate([self.vectors, vectors])
        self.ids.extend(ids)
        if self.labels is not None and labels is not None:
            self.labels.extend(labels)
        if self.provenance is not None and provenance is not None:
            self.provenance = self.provenance.concat(provenance)

    def save(self, folder: Path | str) -> Path:
        folder = Path(folder)
        with atomic_dir(folder) as tmp:
            np.save(tmp / "vectors.npy", self.vectors)
            write_lines(tmp / "ids.txt", self.ids)
            if self.labels is not None:
                write_lines(tmp / "labels.txt", self.labels)
            if self.provenance is not None:
                self.provenance.save(tmp / "provenance.h5")
            save_search_space(tmp, self.config, self.input_dim, self.pca, self.index, len(self), self.info)
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> ReferenceBank:
        folder = Path(folder)
        if not (folder / "bank.json").is_file():
            raise PathsearchError(f"{folder} is not a reference bank (no bank.json): build one first")
        saved = json.loads((folder / "bank.json").read_text())
        config = BankConfig(**saved["bank"])
        pca = load_pca(folder / "pca.faiss") if (folder / "pca.faiss").is_file() else None
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")  # a million-tile bank stays on disk
        ids = (folder / "ids.txt").read_text().splitlines()
        labels = (folder / "labels.txt").read_text().splitlines() if (folder / "labels.txt").is_file() else None
        provenance = Provenance.load(folder / "provenance.h5") if (folder / "provenance.h5").is_file() else None
        index = tune(faiss.read_index(str(folder / "index.faiss")), config) if config.index != "flat" else None
        return cls(config, saved["input_dim"], pca, vectors, ids, labels, provenance, index, saved.get("info"))


def _opt(values: list[Any] | None) -> list[Any] | None:
    return None if values is None else list(values)


def _check_lengths(n: int, ids: list[str], labels: list[str] | None, provenance: Provenance | None) -> None:
    for name, values in (("ids", ids), ("labels", labels), ("provenance", provenance)):
        if values is not None and len(values) != n:
            raise PathsearchError(f"{len(values)} {name} for {n} embeddings: give one per embedding")


def write_lines(path: Path, values: Iterable[str]) -> None:
    with path.open("w") as f:
        f.writelines(f"{value}\n" for value in values)


def save_search_space(
    folder: Path,
    config: BankConfig,
    input_dim: int,
    pca: faiss.VectorTransform | None,
    index: faiss.Index,
    count: int,
    info: dict[str, Any],
) -> None:
    """What turns a raw embedding into a search (PCA, the trained index) and bank.json, beside the vectors."""
    if pca is not None:
        save_pca(pca, folder / "pca.faiss")
    if config.index != "flat":
        faiss.write_index(index, str(folder / "index.faiss"))
    saved = {
        "bank": config.model_dump(),
        "input_dim": input_dim,
        "dim": index.d,
        "count": count,
        "info": info,
        "versions": package_versions(),
    }
    (folder / "bank.json").write_text(json.dumps(saved, indent=2) + "\n")
