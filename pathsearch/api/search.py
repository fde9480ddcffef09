"""`pathsearch search`: each query tile -> the k most similar tiles of a reference bank, plain or STHLM-widened."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pathsearch.bank.bank import BankConfig, ReferenceBank
from pathsearch.bank.provenance import Provenance, source_of
from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import atomic_path, write_json
from pathsearch.io.features_h5 import FeatureSet, check_same_encoder, encoder_info, read_features_h5
from pathsearch.io.manifest import new_manifest
from pathsearch.io.tile_sources import TileImages
from pathsearch.sthlm.checkpoint import load_model, save_model
from pathsearch.sthlm.model import SampleConfig, STHLMModel
from pathsearch.sthlm.search import GenerativeSearch
from pathsearch.sthlm.train import train_on_labels
from pathsearch.viz.hits import draw_hits
from pathsearch.viz.thumbnail import write_png

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SearchResult:
    out_dir: Path
    queries: int
    files: dict[str, Path]


def bank_from_features(features: FeatureSet, path: Path, config: BankConfig) -> ReferenceBank:
    """A bank whose ids are the tiles' names and whose info remembers the encoder, so queries can be checked."""
    info = {**encoder_info(features.attrs), "source": str(features.attrs.get("source", path))}
    n = len(features.features)
    coords = features.coords if features.coords is not None else np.full((n, 2), -1, np.int64)
    provenance = Provenance(np.zeros(n, np.int32), coords, [source_of(path, features.attrs, features.coords_attrs)])
    return ReferenceBank.build(
        features.features, features.tile_names(), features.labels, provenance, config=config, info=info
    )


def open_bank(reference: Path, config: BankConfig) -> tuple[ReferenceBank, bool]:
    """A saved bank folder as it is, or a features.h5 built into a bank; True when it was built here."""
    if not reference.exists():
        raise PathsearchError(f"--bank {reference} does not exist")
    if reference.is_dir():
        return ReferenceBank.load(reference), False
    if reference.suffix != ".h5":
        raise PathsearchError(f"--bank {reference}: give a bank folder (with bank.json) or a features.h5 from `pathsearch embed`")
    return bank_from_features(read_features_h5(reference), reference, config), True


def search(
    query: Path,
    reference: Path,
    out: Path,
    k: int = 10,
    samples: int = 0,
    sthlm: Path | None = None,
    bank_config: BankConfig | None = None,
    seed: int = 0,
    on_step: Progress | None = None,
    show: int = 8,
) -> SearchResult:
    """Write OUT/neighbours.csv (k rows per query), OUT/hits.png (the first `show` queries and their hits)
    and OUT/manifest.json; a bank built here is kept in OUT/bank."""
    step = on_step or (lambda _msg: None)
    out, query, reference = Path(out), Path(query), Path(reference)
    t0 = time.perf_counter()
    queries = read_features_h5(query)
    bank, built = open_bank(reference, bank_config or BankConfig())
    _check_encoder(bank, queries, query)
    files = {"neighbours_csv": out / "neighbours.csv", "manifest": out / "manifest.json"}
    if built:
        step(f"built a {bank.config.index} bank of {len(bank)} tiles")
        files["bank"] = bank.save(out / "bank")
    model = None
    if samples > 0:
        model, trained = _sthlm_model(bank, sthlm, seed, step)
        if trained:
            files["sthlm"] = save_model(model, out / "sthlm")
    step(f"searching {len(queries.features)} queries" + (f" with {samples} STHLM samples each" if samples else ""))
    scores, rows = GenerativeSearch(bank, model, sampling=SampleConfig(seed=seed)).search(bank.project(queries.features), samples, k)
    _write_neighbours(files["neighbours_csv"], queries.tile_names(), bank, scores, rows)
    if show > 0:
        files["hits_png"] = out / "hits.png"
        picture = _hits_picture(queries, query, bank, scores[:show], rows[:show])
        write_png(str(files["hits_png"]), picture)
    manifest = new_manifest(
        "search",
        {"k": k, "samples": samples, "seed": seed, "show": show, "bank": bank.config.model_dump(), "sthlm": str(sthlm) if sthlm else None},
        {"query": str(query.resolve()), "bank": str(reference.resolve()), "queries": len(queries.features), "bank_tiles": len(bank)},
    )
    manifest["timings"] = {"total_s": time.perf_counter() - t0}
    write_json(files["manifest"], manifest)
    return SearchResult(out, len(queries.features), files)


def _sthlm_model(bank: ReferenceBank, sthlm: Path | None, seed: int, step: Progress) -> tuple[STHLMModel, bool]:
    """A given checkpoint, or one trained here on the bank's labels (tile -> another tile of its class)."""
    if sthlm is not None:
        model = load_model(sthlm)
        if model.net.config.dim != bank.dim:
            raise PathsearchError(f"--sthlm {sthlm} generates {model.net.config.dim}-d vectors but the bank searches {bank.dim}-d ones")
        return model, False
    if bank.labels is None:
        raise PathsearchError("the bank has no labels to train STHLM on: pass --sthlm CHECKPOINT, or --samples 0 for plain k-NN")
    step(f"training STHLM on the bank's {len(set(bank.labels))} labels")
    return train_on_labels(bank.vectors, bank.labels, seed), True


def _check_encoder(bank: ReferenceBank, queries: FeatureSet, query: Path) -> None:
    check_same_encoder(bank.info.get("encoder"), queries.attrs.get("encoder"), "the bank", str(query))
    bank.project(queries.features[:1])  # the bank's own dimension check


def _write_neighbours(path: Path, names: list[str], bank: ReferenceBank, scores: np.ndarray, rows: np.ndarray) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["query", "rank", "match", "label", "score", *_PLACE_COLUMNS])
    for name, row_scores, row_hits in zip(names, scores, rows, strict=True):
        for rank, (score, hit) in enumerate(zip(row_scores, row_hits, strict=True), start=1):
            if hit < 0:
                break
            label = bank.labels[hit] if bank.labels is not None else ""
            writer.writerow([name, rank, bank.ids[hit], label, f"{score:.4f}", *_place(bank, int(hit))])
    with atomic_path(path) as tmp:
        tmp.write_text(buffer.getvalue())


_PLACE_COLUMNS = ["slide", "x_level0_px", "y_level0_px", "size_level0_px"]
_CELL_PX = 96


def _place(bank: ReferenceBank, row: int) -> list[object]:
    """Where to find a slide hit again (QuPath: its slide, level-0 box); blank for tiles from files."""
    if bank.provenance is None:
        return [""] * len(_PLACE_COLUMNS)
    origin = bank.provenance.origin(row)
    if origin.x < 0:
        return [""] * len(_PLACE_COLUMNS)
    return [origin.source.slide, origin.x, origin.y, origin.size_level0_px]


def _hits_picture(queries: FeatureSet, query_path: Path, bank: ReferenceBank, scores: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each query tile and its hits, read again from their slides or files (grey where they are gone)."""
    images = TileImages(_CELL_PX)
    query_source = source_of(query_path, queries.attrs, queries.coords_attrs)
    grid = []
    try:
        for q, (row_scores, row_hits) in enumerate(zip(scores, rows, strict=True)):
            if queries.paths is not None:
                tile = images.from_file(queries.paths[q])
            elif queries.coords is not None and query_source.slide:
                x, y = (int(v) for v in queries.coords[q])
                tile = images.from_slide(query_source.slide, x, y, query_source.patch_size_level0)
            else:
                tile = None
            cells = [(tile, "query")]
            for score, hit in zip(row_scores, row_hits, strict=True):
                if hit < 0:
                    break
                place = _place(bank, int(hit))
                tile = images.from_slide(*place) if place[0] else images.from_file(bank.ids[hit])
                label = bank.labels[hit] if bank.labels is not None else ""
                cells.append((tile, f"{score:.3f} {label}"[:14]))
            grid.append(cells)
    finally:
        images.close()
    return draw_hits(grid, _CELL_PX)
