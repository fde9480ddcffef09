"""`pathsearch embed` as an API: a tile set or tile folder -> OUT/features.h5."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from pathsearch.cohort.runner import Cluster, run_batch
from pathsearch.encoders.base import Encoder
from pathsearch.encoders.registry import build_encoder
from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import write_json
from pathsearch.io.features_h5 import write_features_h5
from pathsearch.io.lock import output_lock
from pathsearch.io.manifest import manifest_matches, new_manifest
from pathsearch.io.tile_sources import FolderTiles, ImageTiles, SlideTiles, TileSource, open_tile_source

Item = tuple[torch.Tensor | None, int, str]


class _Preprocessed(IterableDataset):
    """Decoding and preprocessing run in loader workers, each on its own share of the source's read
    units (a slide block, a tile file); errors travel back as text."""

    def __init__(self, source: TileSource, encoder: Encoder) -> None:
        self.source, self.encoder = source, encoder

    def __iter__(self) -> Iterator[Item]:
        worker = get_worker_info()
        first, step = (worker.id, worker.num_workers) if worker is not None else (0, 1)
        for u in range(first, self.source.read_units(), step):
            try:
                tiles = self.source.read_unit(u)
            except PathsearchError as exc:
                yield None, u, str(exc)
                continue
            for i, tile in tiles:
                try:
                    yield self.encoder.preprocess(tile), i, ""
                except PathsearchError as exc:
                    yield None, i, str(exc)


def _collate(items: list[Item]) -> tuple[torch.Tensor, list[int]]:
    errors = [err for _, _, err in items if err]
    if errors:
        raise PathsearchError(
            errors[0] + (f" (and {len(errors) - 1} more in this batch)" if len(errors) > 1 else "")
        )
    return torch.stack([t for t, _, _ in items if t is not None]), [i for _, i, _ in items]


def embed_tiles(
    source: TileSource | Sequence[np.ndarray],
    encoder: Encoder,
    batch_size: int = 32,
    device: str = "cpu",
    workers: int = 0,
    on_batch: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Embeddings in source order; the same tile gives the same vector in any batch."""
    if not isinstance(source, SlideTiles | FolderTiles | ImageTiles):
        source = ImageTiles(source)
    loader = DataLoader(
        _Preprocessed(source, encoder),
        batch_size=batch_size,
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


@dataclass(frozen=True)
class EmbedSettings:
    """Everything that decides the vectors (and the run's cost); picklable, so it travels to Dask workers."""

    model: str = "he-texture"
    weights: Path | None = None
    batch_size: int = 32
    device: str = "cpu"
    loader_workers: int = 0
    half: bool = False


def default_loader_workers(device: str) -> int:
    """On a CPU the model's own threads already fill the cores: decoding processes only compete with
    them (he-texture end to end 1.17x its forward time with none, 1.70x with two; BENCHMARKS.md).
    A GPU waits for decoded tiles, so there they pay."""
    return 2 if device.startswith("cuda") else 0


@dataclass
class EmbedResult:
    input: Path
    target: Path | None
    status: str  # "done", "skipped" or "failed"
    tiles: int = 0
    error: str = ""


@functools.lru_cache(maxsize=1)
def _encoder(model: str, weights: Path | None, device: str) -> tuple[Encoder, dict[str, object]]:
    """Built once per process: a cohort's slides share one encoder, and the weights are hashed once."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PathsearchError("--device cuda requested but no CUDA GPU is visible; use --device cpu")
    encoder = build_encoder(model, weights).to(device)
    return encoder, encoder.provenance()


def embed_set(
    input_path: Path | str,
    out: Path | str,
    settings: EmbedSettings,
    on_start: Callable[[int], None] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> EmbedResult:
    """Write OUT/features.h5 and OUT/manifest.json; skip when the manifest already matches. Locks OUT."""
    out = Path(out)
    with output_lock(out):
        return _embed_unlocked(Path(input_path), out, settings, on_start, on_batch)


def _embed_unlocked(
    input_path: Path,
    out: Path,
    settings: EmbedSettings,
    on_start: Callable[[int], None] | None,
    on_batch: Callable[[int], None] | None,
) -> EmbedResult:
    source = open_tile_source(input_path)
    encoder, provenance = _encoder(settings.model, settings.weights, settings.device)
    params = {"model": settings.model, "batch_size": settings.batch_size, "half": settings.half, **provenance}
    inputs = {"input": str(input_path.resolve()), "tiles": len(source)}
    target = out / "features.h5"
    if target.exists() and manifest_matches(out / "manifest.json", params, inputs):
        return EmbedResult(input_path, target, "skipped", len(source))
    if on_start:
        on_start(len(source))
    t0 = time.perf_counter()
    features = embed_tiles(
        source, encoder, settings.batch_size, settings.device, settings.loader_workers, on_batch
    )
    embed_s = time.perf_counter() - t0
    attrs = {**provenance, "source": inputs["input"]}
    if isinstance(source, SlideTiles):
        attrs["slide"] = str(source.slide_path)
        write_features_h5(
            target, features, attrs, coords=source.coords, coords_attrs=source.attrs, half=settings.half
        )
    else:
        write_features_h5(
            target,
            features,
            attrs,
            paths=[str(p) for p in source.paths],
            labels=source.labels,
            half=settings.half,
        )
    manifest = new_manifest("embed", params, inputs)
    manifest["timings"] = {"embed_s": embed_s, "tiles_per_s": len(source) / embed_s}
    write_json(out / "manifest.json", manifest)
    return EmbedResult(input_path, target, "done", len(source))


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
    """One tile set or tile folder -> OUT/features.h5 (see embed_set); returns that path."""
    weights = Path(weights) if weights is not None else None
    settings = EmbedSettings(model, weights, batch_size, device, workers, half)
    result = embed_set(input_path, out, settings, on_start, on_batch)
    assert result.target is not None
    return result.target


def _embed_one_safely(input_path: Path, out: Path, settings: EmbedSettings) -> EmbedResult:
    """Batch wrapper: a bad tile set becomes a failed result, never an exception."""
    try:
        return embed_set(input_path, out / input_path.name, settings)
    except PathsearchError as exc:
        return EmbedResult(input_path, None, "failed", error=f"{input_path.name}: {exc}")
    except Exception as exc:  # noqa: BLE001 - one slide's crash must not stop the batch
        return EmbedResult(
            input_path, None, "failed", error=f"{input_path.name}: unexpected {type(exc).__name__}: {exc}"
        )


def cohort_inputs(inputs: Sequence[Path | str]) -> list[Path] | None:
    """The tile sets of a cohort run, or None for one tile set or tile folder (embedded into OUT itself).

    Several inputs are a cohort; so is one folder of `pathsearch tile` outputs (subfolders with tiles.h5).
    """
    paths = [Path(p) for p in inputs]
    if len(paths) > 1:
        return paths
    root = paths[0]
    if root.is_dir() and not (root / "tiles.h5").exists():
        sets = sorted(p for p in root.iterdir() if (p / "tiles.h5").is_file())
        if sets:
            return sets
    return None


def embed_cohort(
    inputs: Sequence[Path | str],
    out: Path | str,
    settings: EmbedSettings,
    workers: int = 1,
    scheduler: str | None = None,
    on_result: Callable[[EmbedResult], None] | None = None,
) -> list[EmbedResult]:
    """Each tile set -> OUT/<its folder name>/features.h5, one Dask task each; failures reported, not raised.

    Like `tile_slides`: input order, finished sets skipped on a rerun, `out` locked for the duration.
    """
    out = Path(out)
    paths = [Path(p) for p in inputs]
    where = Cluster(scheduler, workers)
    if not where.serial:
        # Dask worker processes are daemonic and may not start DataLoader workers of their own.
        settings = dataclasses.replace(settings, loader_workers=0)
    with output_lock(out):
        return run_batch(
            functools.partial(_embed_one_safely, out=out, settings=settings),
            paths,
            where,
            failed=lambda path, why: EmbedResult(path, None, "failed", error=f"{path.name}: {why}"),
            names=[p.name for p in paths],
            on_result=on_result,
        )
