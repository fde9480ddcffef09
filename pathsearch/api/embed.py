"""`pathsearch embed` as an API: a tile set or tile folder -> OUT/features.h5."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from pathsearch.encoders.base import Encoder
from pathsearch.encoders.registry import build_encoder
from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import write_json
from pathsearch.io.features_h5 import write_features_h5
from pathsearch.io.manifest import manifest_matches, new_manifest
from pathsearch.io.tile_sources import FolderTiles, SlideTiles, open_tile_source

Item = tuple[torch.Tensor | None, int, str]


class _Preprocessed(Dataset):
    """Decoding and preprocessing run in loader workers; errors travel back as text."""

    def __init__(self, source: SlideTiles | FolderTiles, encoder: Encoder) -> None:
        self.source, self.encoder = source, encoder

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int) -> Item:
        try:
            return self.encoder.preprocess(self.source[i]), i, ""
        except PathsearchError as exc:
            return None, i, str(exc)


def _collate(items: list[Item]) -> tuple[torch.Tensor, list[int]]:
    errors = [err for _, _, err in items if err]
    if errors:
        raise PathsearchError(
            errors[0] + (f" (and {len(errors) - 1} more in this batch)" if len(errors) > 1 else "")
        )
    return torch.stack([t for t, _, _ in items if t is not None]), [i for _, i, _ in items]


def embed_tiles(
    source: SlideTiles | FolderTiles,
    encoder: Encoder,
    batch_size: int = 32,
    device: str = "cpu",
    workers: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embeddings in source order; the same tile gives the same vector in any batch."""
    loader = DataLoader(
        _Preprocessed(source, encoder),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=_collate,
        persistent_workers=False,
    )
    out = np.empty((len(source), encoder.dim), np.float32)
    for batch, index in loader:
        out[index] = encoder.encode_images(batch, device)
        if on_batch:
            on_batch(len(index))
    return out


def embed(
    input_path: Path | str,
    out: Path | str,
    model: str = "he-texture",
    weights: Path | str | None = None,
    batch_size: int = 32,
    device: str = "cpu",
    workers: int = 0,
    half: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> Path:
    """Write OUT/features.h5 and OUT/manifest.json; skip when the manifest already matches."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PathsearchError("--device cuda requested but no CUDA GPU is visible; use --device cpu")
    out = Path(out)
    source = open_tile_source(input_path)
    encoder = build_encoder(model, weights).to(device)
    provenance = encoder.provenance()  # hashes the weights file: once per run
    params = {"model": model, "batch_size": batch_size, "half": half, **provenance}
    inputs = {"input": str(Path(input_path).resolve()), "tiles": len(source)}
    target = out / "features.h5"
    if target.exists() and manifest_matches(out / "manifest.json", params, inputs):
        return target
    if on_start:
        on_start(len(source))
    t0 = time.perf_counter()
    features = embed_tiles(source, encoder, batch_size, device, workers, on_batch)
    embed_s = time.perf_counter() - t0
    attrs = {**provenance, "source": inputs["input"]}
    if isinstance(source, SlideTiles):
        write_features_h5(target, features, attrs, coords=source.coords, coords_attrs=source.attrs, half=half)
    else:
        write_features_h5(
            target, features, attrs, paths=[str(p) for p in source.paths], labels=source.labels, half=half
        )
    manifest = new_manifest("embed", params, inputs)
    manifest["timings"] = {"embed_s": embed_s, "tiles_per_s": len(source) / embed_s}
    write_json(out / "manifest.json", manifest)
    return target
