"""Choose how far each learned arm trusts the plain query, on a dev part of the training queries.

The default weights were chosen on SciFact, where similar claims cite the same abstracts. On a dataset
where plain search is already near-perfect, or where a model can only recall its training answers, the
same weights push the right document down (BENCHMARKS.md, session 10). A dev part carved from the
training queries shows which case applies before the evaluated split is read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from pathsearch.eval.retrieval_metrics import Qrels, mean_metrics, per_query
from pathsearch.sthlm.pooling import PoolConfig, pooled_search
from pathsearch.sthlm.search import GenerativeSearch

QUERY_WEIGHTS = (0.1, 0.2, 0.3, 0.5, 0.8, 1.0)  # 1.0 is plain search
DEV_FRACTION = 0.25
MIN_DEV_QUERIES = 20  # fewer cannot tell the weights apart; the defaults stand


def carve_dev(qrels: Qrels, fraction: float, seed: int) -> tuple[dict[str, Mapping[str, int]], dict[str, Mapping[str, int]]]:
    """(fit, dev) by whole query, so the dev queries are as new to the dev models as test queries are."""
    ids = sorted(qrels)
    order = np.random.default_rng(seed).permutation(len(ids))
    n_dev = int(round(len(ids) * fraction))
    dev = {ids[i] for i in order[:n_dev]}
    return {q: qrels[q] for q in ids if q not in dev}, {q: qrels[q] for q in ids if q in dev}


def with_query_weight(pooling: PoolConfig, weight: float) -> PoolConfig:
    """Queries the gate finds unlike the training ones never trust the model more than the others do."""
    return pooling.model_copy(
        update={"query_weight": weight, "outside_query_weight": max(weight, pooling.outside_query_weight)}
    )


def ndcg_by_query_weight(
    search: GenerativeSearch,
    queries: np.ndarray,
    query_ids: Sequence[str],
    qrels: Qrels,
    corpus_ids: Sequence[str],
    n: int,
    k: int,
    weights: Sequence[float] = QUERY_WEIGHTS,
) -> dict[float, float]:
    """NDCG@10 at each weight from one set of samples, so the weights differ only in how they fuse."""
    probes = search.probes(queries, n)
    inside = search.gate.inside(queries) if search.gate is not None else None
    out = {}
    for weight in weights:
        _, hits = pooled_search(search.bank, queries, probes, k, with_query_weight(search.pooling, weight), inside)
        ranking = {q: [corpus_ids[j] for j in hits[i] if j >= 0] for i, q in enumerate(query_ids)}
        out[weight] = mean_metrics(per_query(ranking, qrels))["ndcg@10"]
    return out


def best_weight(ndcg: Mapping[float, float]) -> float:
    """Ties go to the larger weight: nearer plain search, the safer side."""
    return max(ndcg, key=lambda w: (ndcg[w], w))
