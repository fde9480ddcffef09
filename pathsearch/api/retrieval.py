"""`pathsearch eval retrieval`: plain k-NN vs STHLM vs a non-generative control on one held-out split."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pathsearch.bank.bank import BankConfig, ReferenceBank
from pathsearch.errors import PathsearchError
from pathsearch.eval.retrieval_data import load_retrieval_dataset
from pathsearch.eval.retrieval_metrics import mean_metrics, per_query
from pathsearch.sthlm.gate import fit_support_gate
from pathsearch.sthlm.model import STHLMModel
from pathsearch.sthlm.pairs import qrel_pairs
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

    Early stopping uses a validation part carved from the training pairs; the evaluated split is
    touched only to score the final rankings. Queries unlike every training query lean on their own
    plain scores (`sthlm.gate`), in both learned arms.
    """
    if split == train_split:
        raise PathsearchError(f"--split {split} is also the training split: evaluate on held-out queries")
    data = load_retrieval_dataset(dataset)
    eval_qrels, train_qrels = data.qrels(split), data.qrels(train_split)
    train_qrels = {q: docs for q, docs in train_qrels.items() if q not in eval_qrels}
    bank = ReferenceBank.build(data.corpus, data.corpus_ids, config=BankConfig(pca_dim=pca_dim))
    queries = bank.project(data.queries)
    pairs = qrel_pairs(queries, data.query_row, bank.vectors, data.corpus_row, train_qrels)
    if not len(pairs):
        raise PathsearchError(f"split '{train_split}' gives no (query, relevant document) pairs to train on")
    config = train_config or TrainConfig()
    flow, _ = train(pairs, "flow", config, on_epoch("STHLM") if on_epoch else None)
    control, _ = train(pairs, "control", config, on_epoch("control") if on_epoch else None)
    gate = fit_support_gate(pairs)  # shared by both arms: the control is fused exactly as STHLM is

    eval_ids = [q for q in data.query_ids if q in eval_qrels and any(g > 0 for g in eval_qrels[q].values())]
    rows = np.array([data.query_row[q] for q in eval_ids], dtype=np.int64)
    seen_docs = {d for docs in train_qrels.values() for d, g in docs.items() if g > 0}
    seen = [q for q in eval_ids if any(g > 0 and d in seen_docs for d, g in eval_qrels[q].items())]
    seen_set = set(seen)
    unseen = [q for q in eval_ids if q not in seen_set]

    def arm(model: STHLMModel | None, n: int) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
        search = GenerativeSearch(bank, model, gate=gate)
        start = time.perf_counter()
        _, hits = search.search(queries[rows], n, SEARCH_K)
        ms = 1000 * (time.perf_counter() - start) / max(len(rows), 1)
        ranking = {q: [data.corpus_ids[j] for j in hits[i] if j >= 0] for i, q in enumerate(eval_ids)}
        scores = per_query(ranking, eval_qrels)
        return {**mean_metrics(scores), "ms_per_query": ms}, scores

    baseline, base_q = arm(None, 0)
    sthlm, sthlm_q = arm(flow, DEFAULT_SAMPLES)
    ctrl, ctrl_q = arm(control, 1)
    sweep = [{"N": n, **arm(flow, n)[0]} for n in samples]

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

