"""NDCG@k (graded gains, log2 discount, as BEIR/pytrec_eval), Recall@k and MRR@k; how spread a query's
samples are, so a collapsed generator is visible beside its scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

Qrels = Mapping[str, Mapping[str, int]]
Ranking = Mapping[str, Sequence[str]]


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    gains = [relevant.get(doc, 0) for doc in ranked[:k]]
    dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / np.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    wanted = {doc for doc, g in relevant.items() if g > 0}
    return len(wanted.intersection(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def ranking_of(query_ids: Sequence[str], hits: np.ndarray, corpus_ids: Sequence[str]) -> dict[str, list[str]]:
    """Row i of `hits` (bank rows, -1 for a missing hit) as the ranked document ids of query_ids[i]."""
    return {q: [corpus_ids[j] for j in hits[i] if j >= 0] for i, q in enumerate(query_ids)}


def per_query(ranking: Ranking, qrels: Qrels) -> dict[str, dict[str, float]]:
    """Queries with no relevant document are skipped, as pytrec_eval does."""
    return {
        q: {
            "ndcg@10": ndcg_at(ranking[q], qrels[q], 10),
            "recall@100": recall_at(ranking[q], qrels[q], 100),
            "mrr@10": mrr_at(ranking[q], qrels[q], 10),
        }
        for q in ranking
        if any(g > 0 for g in qrels.get(q, {}).values())
    }


def mean_metrics(scores: Mapping[str, Mapping[str, float]], queries: Sequence[str] | None = None) -> dict[str, float]:
    names = ("ndcg@10", "recall@100", "mrr@10")
    chosen = list(scores) if queries is None else [q for q in queries if q in scores]
    return {m: float(np.mean([scores[q][m] for q in chosen])) if chosen else 0.0 for m in names}


def sample_spread(samples: np.ndarray | None) -> float | None:
    """Mean cosine between two different samples of the same query (1.0: the samples have collapsed)."""
    if samples is None or samples.shape[1] < 2:
        return None
    n = samples.shape[1]
    unit = samples / np.linalg.norm(samples, axis=2, keepdims=True).clip(1e-12)
    gram = np.einsum("qnd,qmd->qnm", unit, unit)
    return float((gram.sum(axis=(1, 2)) - np.trace(gram, axis1=1, axis2=2)).mean() / (n * (n - 1)))
