"""`pathsearch eval retrieval FEATURES.h5`: class-level tile retrieval, plain k-NN vs STHLM vs the control.

Each tile is a query once: the tiles are dealt into folds class by class, and a fold's tiles search a bank
of the other folds, where both learned arms trained (same-class pairs, as `pathsearch search` trains on
a labelled bank). The whole protocol repeats over seeds (folds, training, sampling), and every figure
is a mean over seeds with its standard deviation beside it, so a difference can be set against the spread.
Nothing is tuned on the scored queries. Training and pooling are `pathsearch search`'s defaults except
the query weight (how much of the plain query's score is blended in), which each learned arm chooses
per fold on a dev part of that fold's bank, with a model trained on the rest of the bank, by mAP@5
(ties to the larger weight, nearer plain search): the SciFact default of 0.2 buried tiles that plain
k-NN ranked first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pathsearch.bank.bank import ReferenceBank
from pathsearch.bank.pca import l2_normalise
from pathsearch.errors import PathsearchError
from pathsearch.eval.dev_choice import PLAIN, QUERY_WEIGHTS
from pathsearch.eval.retrieval_metrics import sample_spread
from pathsearch.eval.tile_retrieval import TOP_K, fold_ids, tile_metrics
from pathsearch.io.atomic import write_json
from pathsearch.io.features_h5 import read_features_h5
from pathsearch.io.manifest import file_fingerprint, new_manifest
from pathsearch.sthlm.model import ModelKind, SampleConfig
from pathsearch.sthlm.pooling import PoolConfig, hits_by_query_weight
from pathsearch.sthlm.search import GenerativeSearch
from pathsearch.sthlm.train import PAIRS_PER_TILE, train_on_labels

DEFAULT_SAMPLES = 10


def evaluate_tile_retrieval(
    features_h5: Path | str,
    samples: Sequence[int] = (0, 1, 5, 10, 20),
    folds: int = 4,
    seeds: int = 5,
    json_out: Path | None = None,
    on_fold: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The `eval retrieval` JSON for a labelled features.h5; `on_fold(done, total)` reports progress."""
    start = time.perf_counter()
    path = Path(features_h5)
    data = read_features_h5(path)
    if data.labels is None:
        raise PathsearchError(f"{path}: no tile labels; embed a class-folder tile set (one folder per class) to evaluate retrieval")
    labels = np.asarray(data.labels)
    smallest = min(np.sum(labels == c) for c in set(labels))
    if folds < 2 or smallest < 2:
        raise PathsearchError(f"{path}: every class needs 2 or more tiles and --folds 2 or more (smallest class: {smallest})")
    vectors = l2_normalise(data.features)
    arms = ["baseline", "sthlm", "control", *(f"N={n}" for n in samples)]
    per_seed: dict[str, list[dict[str, float]]] = {arm: [] for arm in arms}
    for seed in range(seeds):
        fold = fold_ids(list(labels), folds, seed)
        scores: dict[str, list[dict[str, np.ndarray]]] = {arm: [] for arm in arms}
        for f in range(folds):
            _score_fold(vectors, labels, fold != f, fold == f, samples, folds, seed, scores)
            if on_fold:
                on_fold(seed * folds + f + 1, seeds * folds)
        for arm, parts in scores.items():
            per_seed[arm].append({m: float(np.mean(np.concatenate([p[m] for p in parts]))) for m in parts[0]})
    summary = {arm: _mean_sd(rows) for arm, rows in per_seed.items()}
    result = {
        "split": f"{folds}-fold, {seeds} seeds",
        "queries": len(labels),
        "baseline": summary["baseline"],
        "sthlm": {"N": DEFAULT_SAMPLES, **summary["sthlm"]},
        "control": summary["control"],
        "breakdown": {c: int(np.sum(labels == c)) for c in sorted(set(labels))},
        "sweep": [{"N": n, **summary[f"N={n}"]} for n in samples],
    }
    if json_out is not None:
        params = {"samples": list(samples), "folds": folds, "seeds": seeds, "top_k": TOP_K, "pairs_per_tile": PAIRS_PER_TILE}
        manifest = new_manifest("eval retrieval (tiles)", params, {path.name: file_fingerprint(path)})
        manifest["seconds"] = round(time.perf_counter() - start, 1)
        write_json(json_out, result)
        write_json(json_out.with_name(f"{json_out.stem}.manifest.json"), manifest)
    return result


def _score_fold(
    vectors: np.ndarray,
    labels: np.ndarray,
    in_bank: np.ndarray,
    is_query: np.ndarray,
    samples: Sequence[int],
    folds: int,
    seed: int,
    scores: dict[str, list[dict[str, np.ndarray]]],
) -> None:
    bank = _bank(vectors, labels, in_bank)
    bank_labels = labels[in_bank]
    queries, query_labels = bank.project(vectors[is_query]), labels[is_query]
    models = {kind: train_on_labels(bank.vectors, list(bank_labels), seed, kind=kind) for kind in ("flow", "control")}
    weights = {kind: _dev_query_weight(vectors, labels, in_bank, folds, seed, kind) for kind in models}

    def arm(kind: ModelKind | None, n: int) -> dict[str, np.ndarray]:
        model = models[kind] if kind else None
        pooling = PoolConfig(query_weight=weights[kind]) if kind else PoolConfig()
        search = GenerativeSearch(bank, model, sampling=SampleConfig(seed=seed), pooling=pooling)
        _, hits = search.search(queries, n, TOP_K)
        out = tile_metrics(hits, bank_labels, query_labels)
        if model is not None and n > 0:
            out["query_weight"] = np.full(len(queries), weights[kind])
        spread = sample_spread(search.probes(queries, n)) if kind == "flow" else None
        if spread is not None:
            out["sample_spread"] = np.full(len(queries), spread)
        return out

    scores["baseline"].append(arm(None, 0))
    scores["sthlm"].append(arm("flow", DEFAULT_SAMPLES))
    scores["control"].append(arm("control", 1))
    for n in samples:
        scores[f"N={n}"].append(arm("flow", n))


def _bank(vectors: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> ReferenceBank:
    return ReferenceBank.build(vectors[rows], [str(i) for i in np.flatnonzero(rows)], labels=list(labels[rows]))


def _dev_query_weight(
    vectors: np.ndarray, labels: np.ndarray, in_bank: np.ndarray, folds: int, seed: int, kind: ModelKind
) -> float:
    """The arm's query weight for this fold, from the bank alone: one of its folds (dealt as the outer
    folds are) queries a model and bank built from the others. Plain search when the bank is too small
    to spare a dev part."""
    bank_rows = np.flatnonzero(in_bank)
    inner = fold_ids(list(labels[bank_rows]), folds, seed + 1) == 0
    fit, dev = np.zeros_like(in_bank), np.zeros_like(in_bank)
    fit[bank_rows[~inner]], dev[bank_rows[inner]] = True, True
    if not dev.any() or len(set(labels[fit])) < 2:
        return PLAIN
    bank = _bank(vectors, labels, fit)
    model = train_on_labels(bank.vectors, list(labels[fit]), seed, kind=kind)
    search = GenerativeSearch(bank, model, sampling=SampleConfig(seed=seed))
    queries = bank.project(vectors[dev])
    hits = hits_by_query_weight(bank, queries, search.probes(queries, DEFAULT_SAMPLES), TOP_K, search.pooling, QUERY_WEIGHTS)
    map_at = {w: tile_metrics(rows, labels[fit], labels[dev])[f"map@{TOP_K}"].mean() for w, rows in hits.items()}
    return max(QUERY_WEIGHTS, key=lambda w: (map_at[w], w))


def _mean_sd(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = [k for k in rows[0] if all(k in r for r in rows)]
    out = {}
    for key in keys:
        values = np.array([r[key] for r in rows])
        out[key], out[f"{key}_sd"] = float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out
