"""`pathsearch eval retrieval`: plain k-NN vs STHLM vs a non-generative control on one held-out split."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pathsearch.bank.bank import BankConfig, ReferenceBank
from pathsearch.errors import PathsearchError
from pathsearch.eval.query_weight import (
    DEV_FRACTION,
    MIN_DEV_QUERIES,
    best_weight,
    carve_dev,
    ndcg_by_query_weight,
    with_query_weight,
)
from pathsearch.eval.retrieval_data import RetrievalDataset, load_retrieval_dataset
from pathsearch.eval.retrieval_metrics import Qrels, mean_metrics, per_query
from pathsearch.sthlm.gate import SupportGate, fit_support_gate
from pathsearch.sthlm.model import STHLMModel
from pathsearch.sthlm.pairs import Pairs, qrel_pairs
from pathsearch.sthlm.pooling import PoolConfig
from pathsearch.sthlm.search import GenerativeSearch
from pathsearch.sthlm.train import EpochCallback, TrainConfig, train

DEFAULT_SAMPLES = 10
SEARCH_K = 100


def evaluate_retrieval(
    dataset: Path | str,
    split: str,
    train_split: str = "train",
    samples: Sequence[int] = (0, 1, 5, 10, 20, 50),
    pca_dim: int | None = None,
    train_config: TrainConfig | None = None,
    on_epoch: Callable[[str], EpochCallback] | None = None,
) -> dict[str, Any]:
    """Train STHLM and the control on `train_split` only; every setting is fixed before `split` is read.

    Early stopping uses a validation part carved from the training pairs, and each learned arm's query
    weight is chosen on a quarter of the training queries held out from a first pair of models
    (`eval.query_weight`); the evaluated split is touched only to score the final rankings. Queries
    unlike every training query lean on their own plain scores (`sthlm.gate`), in both learned arms.
    """
    if split == train_split:
        raise PathsearchError(f"--split {split} is also the training split: evaluate on held-out queries")
    data = load_retrieval_dataset(dataset)
    eval_qrels, train_qrels = data.qrels(split), data.qrels(train_split)
    train_qrels = {q: docs for q, docs in train_qrels.items() if q not in eval_qrels}
    bank = ReferenceBank.build(data.corpus, data.corpus_ids, config=BankConfig(pca_dim=pca_dim))
    queries = bank.project(data.queries)
    config = train_config or TrainConfig()
    pairs = qrel_pairs(queries, data.query_row, bank.vectors, data.corpus_row, train_qrels)
    if not len(pairs):
        raise PathsearchError(f"split '{train_split}' gives no (query, relevant document) pairs to train on")
    pooling = _choose_pooling(data, bank, queries, train_qrels, config, on_epoch)
    flow, control, gate = _train_arms(pairs, config, on_epoch, "")

    eval_ids = [q for q in data.query_ids if q in eval_qrels and any(g > 0 for g in eval_qrels[q].values())]
    rows = np.array([data.query_row[q] for q in eval_ids], dtype=np.int64)
    seen_docs = {d for docs in train_qrels.values() for d, g in docs.items() if g > 0}
    seen = [q for q in eval_ids if any(g > 0 and d in seen_docs for d, g in eval_qrels[q].items())]
    seen_set = set(seen)
    unseen = [q for q in eval_ids if q not in seen_set]

    def arm(model: STHLMModel | None, n: int, pool: PoolConfig) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        search = GenerativeSearch(bank, model, pooling=pool, gate=gate)
        start = time.perf_counter()
        _, hits = search.search(queries[rows], n, SEARCH_K)
        ms = 1000 * (time.perf_counter() - start) / max(len(rows), 1)
        ranking = {q: [data.corpus_ids[j] for j in hits[i] if j >= 0] for i, q in enumerate(eval_ids)}
        scores = per_query(ranking, eval_qrels)
        return {**mean_metrics(scores), "ms_per_query": ms}, scores

    baseline, base_q = arm(None, 0, PoolConfig())
    sthlm, sthlm_q = arm(flow, DEFAULT_SAMPLES, pooling["sthlm"])
    ctrl, ctrl_q = arm(control, 1, pooling["control"])
    sweep = [{"N": n, **arm(flow, n, pooling["sthlm"])[0]} for n in samples]

    def group(ids: list[str]) -> dict[str, Any]:
        return {
            "queries": len(ids),
            **{name: mean_metrics(s, ids)["ndcg@10"] for name, s in (("baseline", base_q), ("sthlm", sthlm_q), ("control", ctrl_q))},
        }

    return {
        "split": split,
        "queries": len(eval_ids),
        "baseline": baseline,
        "sthlm": {"N": DEFAULT_SAMPLES, **sthlm},
        "control": ctrl,
        "breakdown": {"seen": group(seen), "unseen": group(unseen)},
        "sweep": sweep,
    }


Arms = tuple[STHLMModel, STHLMModel, SupportGate]


def _train_arms(pairs: Pairs, config: TrainConfig, on_epoch: Callable[[str], EpochCallback] | None, tag: str) -> Arms:
    flow, _ = train(pairs, "flow", config, on_epoch(f"STHLM{tag}") if on_epoch else None)
    control, _ = train(pairs, "control", config, on_epoch(f"control{tag}") if on_epoch else None)
    return flow, control, fit_support_gate(pairs)  # one gate for both arms: the control is fused exactly as STHLM is


def _choose_pooling(
    data: RetrievalDataset,
    bank: ReferenceBank,
    queries: np.ndarray,
    train_qrels: Qrels,
    config: TrainConfig,
    on_epoch: Callable[[str], EpochCallback] | None,
) -> dict[str, PoolConfig]:
    """Each arm's query weight, from models trained on part of the training queries and scored on the rest."""
    fit, dev = carve_dev(train_qrels, DEV_FRACTION, config.seed)
    dev_ids = [q for q in data.query_ids if q in dev and any(g > 0 for g in dev[q].values())]
    default = PoolConfig()
    fit_pairs = qrel_pairs(queries, data.query_row, bank.vectors, data.corpus_row, fit)
    if len(dev_ids) < MIN_DEV_QUERIES or len(fit_pairs) < 2:
        return {"sthlm": default, "control": default}
    flow, control, gate = _train_arms(fit_pairs, config, on_epoch, " (dev)")
    rows = np.array([data.query_row[q] for q in dev_ids], dtype=np.int64)
    chosen = {}
    for name, model, n in (("sthlm", flow, DEFAULT_SAMPLES), ("control", control, 1)):
        search = GenerativeSearch(bank, model, pooling=default, gate=gate)
        ndcg = ndcg_by_query_weight(search, queries[rows], dev_ids, dev, data.corpus_ids, n, SEARCH_K)
        chosen[name] = with_query_weight(default, best_weight(ndcg))
    return chosen

