"""`pathsearch bank build`: one bank from many slides' features.h5, read and added in shards.

Memory stays bounded by the index itself plus one shard and one training sample: the raw embeddings of a
cohort are never all in memory, and the stored vectors are streamed to disk as they are projected.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import h5py
import numpy as np

from pathsearch.bank.bank import BankConfig, save_search_space
from pathsearch.bank.index import empty_index
from pathsearch.bank.pca import apply_pca, fit_pca
from pathsearch.bank.provenance import Provenance, source_of
from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import atomic_dir, write_json
from pathsearch.io.features_h5 import (
    FeatureHeader,
    check_same_encoder,
    coord_names,
    encoder_info,
    read_features_header,
    texts,
)
from pathsearch.io.manifest import file_fingerprint, new_manifest

SHARD_ROWS = 65_536
TRAIN_ROWS = 100_000


@dataclass(frozen=True)
class BankBuild:
    out_dir: Path
    count: int
    dim: int
    sources: int


def check_inputs(paths: Sequence[Path]) -> list[FeatureHeader]:
    """All inputs must share one encoder space, and be all labelled or all unlabelled."""
    if len({p.resolve() for p in paths}) != len(paths):
        raise PathsearchError("the same features.h5 is given twice; give each slide's features once")
    headers = [read_features_header(p) for p in paths]
    first = headers[0]
    for h in headers[1:]:
        if h.dim != first.dim:
            raise PathsearchError(f"{h.path} has {h.dim}-d features but {first.path} {first.dim}-d: embed all with one --model")
        check_same_encoder(first.attrs.get("encoder"), h.attrs.get("encoder"), str(first.path), str(h.path))
    if len({h.has_labels for h in headers}) > 1:
        unlabelled = next(h.path for h in headers if not h.has_labels)
        raise PathsearchError(f"{unlabelled} has no labels but other inputs do: build labelled and unlabelled banks separately")
    return headers


def _shards(header: FeatureHeader, rows: int) -> Iterator[tuple[int, int]]:
    for start in range(0, header.rows, rows):
        yield start, min(header.rows, start + rows)


def _training_sample(headers: list[FeatureHeader], rows: int, shard_rows: int) -> np.ndarray:
    """Evenly spaced rows of every input, in proportion to its size: what PCA and IVF learn from.

    At most `rows` (plus one per shard, from rounding), so the build's memory does not grow with the cohort."""
    total = sum(h.rows for h in headers)
    step = max(1, -(-total // rows))
    parts = []
    for h in headers:
        with h5py.File(h.path, "r") as f:
            for start, stop in _shards(h, shard_rows):
                parts.append(f["features"][start:stop:step].astype(np.float32))
    return np.concatenate(parts)


def _names(f: h5py.File, header: FeatureHeader, start: int, stop: int) -> list[str]:
    if header.has_paths:
        return texts(f["paths"][start:stop])
    if header.has_coords and "patch_size_level0" in header.coords_attrs:
        return coord_names(header.attrs, header.coords_attrs, f["coords"][start:stop])
    return [f"{header.path.parent.name}:{i}" for i in range(start, stop)]


def build_bank(
    paths: Sequence[Path | str],
    out: Path | str,
    config: BankConfig | None = None,
    shard_rows: int = SHARD_ROWS,
    train_rows: int = TRAIN_ROWS,
    on_rows: Callable[[int], None] | None = None,
) -> BankBuild:
    """Write a bank folder that `ReferenceBank.load` and `pathsearch search --bank` read."""
    config = config or BankConfig()
    out = Path(out)
    t0 = time.perf_counter()
    headers = check_inputs([Path(p) for p in paths])
    count, input_dim = sum(h.rows for h in headers), headers[0].dim
    if count == 0:
        raise PathsearchError("the inputs hold no features; embed some tiles first")
    needs_training = config.pca_dim is not None or config.index in ("ivf", "ivfpq")
    sample = _training_sample(headers, train_rows, shard_rows) if needs_training else np.zeros((1, input_dim), np.float32)
    pca = fit_pca(sample, config.pca_dim, config.whiten) if config.pca_dim else None
    index = empty_index(apply_pca(pca, sample), config)
    del sample
    with atomic_dir(out) as tmp:
        add = config.index != "flat"  # a flat index is the vectors file itself, rebuilt at load
        provenance = _stream_vectors(tmp, headers, pca, index if add else None, shard_rows, on_rows)
        provenance.save(tmp / "provenance.h5")
        info = {**encoder_info(headers[0].attrs), "sources": len(headers)}
        save_search_space(tmp, config, input_dim, pca, index, count, info)
        manifest = new_manifest(
            "bank build",
            {"bank": config.model_dump(), "shard_rows": shard_rows, "train_rows": train_rows},
            {"features": [file_fingerprint(h.path) for h in headers], "vectors": count},
        )
        manifest["timings"] = {"total_s": time.perf_counter() - t0}
        write_json(tmp / "manifest.json", manifest)
    return BankBuild(out, count, index.d, len(headers))


def _stream_vectors(
    folder: Path,
    headers: list[FeatureHeader],
    pca: faiss.VectorTransform | None,
    index: faiss.Index | None,
    shard_rows: int,
    on_rows: Callable[[int], None] | None,
) -> Provenance:
    """Project every input shard by shard into vectors.npy, ids.txt and labels.txt (and `index`)."""
    count = sum(h.rows for h in headers)
    dim = pca.d_out if pca is not None else headers[0].dim
    source = np.empty(count, np.int32)
    coords = np.full((count, 2), -1, np.int64)
    with (
        (folder / "vectors.npy").open("wb") as vectors,
        (folder / "ids.txt").open("w") as ids,
        (folder / "labels.txt").open("w") if headers[0].has_labels else contextlib.nullcontext() as labels,
    ):
        np.lib.format.write_array_header_2_0(vectors, {"descr": "<f4", "fortran_order": False, "shape": (count, dim)})
        row = 0
        for i, h in enumerate(headers):
            with h5py.File(h.path, "r") as f:
                for start, stop in _shards(h, shard_rows):
                    projected = apply_pca(pca, f["features"][start:stop].astype(np.float32))
                    if index is not None:
                        index.add(projected)
                    vectors.write(projected.tobytes())
                    ids.writelines(f"{name}\n" for name in _names(f, h, start, stop))
                    if labels is not None:
                        labels.writelines(f"{label}\n" for label in texts(f["labels"][start:stop]))
                    rows = slice(row, row + stop - start)
                    source[rows] = i
                    if h.has_coords:
                        coords[rows] = f["coords"][start:stop]
                    row = rows.stop
                    if on_rows:
                        on_rows(stop - start)
    return Provenance(source, coords, [source_of(h.path, h.attrs, h.coords_attrs) for h in headers])


def find_features(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a folder stands for every features.h5 under it (an `embed` cohort output), sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(path.rglob("features.h5"))
            if not inside:
                raise PathsearchError(f"{path}: no features.h5 inside; run `pathsearch embed` first")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise PathsearchError(f"{path}: no such file or folder")
    return found
