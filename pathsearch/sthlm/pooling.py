"""Pool the k-NN hits of N sampled embeddings per query, blended with the plain query's own scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from pathsearch.bank.bank import ReferenceBank
from pathsearch.bank.pca import l2_normalise

PoolMethod = Literal["vote", "sum", "max", "rrf", "mean"]
RRF_K = 60


class Candidates(NamedTuple):
    rows: np.ndarray  # bank rows, ascending
    plain: np.ndarray  # their inner product with the query (plain search's score)
    pooled: np.ndarray  # their score pooled over the samples


class PoolConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: PoolMethod = "max"
    query_weight: float = Field(default=0.2, ge=0.0, le=1.0)
    # For queries a SupportGate finds unlike every training query: lean on the plain search (chosen on
    # 8 dev splits carved from SciFact's train claims, early-stopped models; BENCHMARKS.md). Models
    # trained as long as a dev part asks get plain search there (`eval.dev_choice.best_query_weight`).
    outside_query_weight: float = Field(default=0.8, ge=0.0, le=1.0)
    sample_k: int = Field(default=100, ge=1)


def pooled_search(
    bank: ReferenceBank,
    queries: np.ndarray,
    samples: np.ndarray | None,
    k: int,
    config: PoolConfig | None = None,
    inside: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Rank bank rows for each query. queries: (Q, D) and samples: (Q, N, D), both in the bank's space.

    With no samples (N=0) this is exactly the plain k-NN search. `inside` (Q,) marks the queries
    that get `query_weight`; the others get `outside_query_weight`.
    """
    config = config or PoolConfig()
    if samples is None or samples.shape[1] == 0:
        return bank.search(queries, k)
    weights = np.full(len(queries), config.query_weight)
    if inside is not None:
        weights[~inside] = config.outside_query_weight
    return fuse(pooled_candidates(bank, queries, samples, k, config), weights, min(k, len(bank)))


def hits_by_query_weight(
    bank: ReferenceBank, queries: np.ndarray, samples: np.ndarray, k: int, config: PoolConfig, weights: Sequence[float]
) -> dict[float, np.ndarray]:
    """(Q, k) hit rows with every query at each weight, all from one search of the samples: what a dev
    choice of the weight compares."""
    candidates = pooled_candidates(bank, queries, samples, k, config)
    return {w: fuse(candidates, np.full(len(queries), w), min(k, len(bank)))[1] for w in weights}


def pooled_candidates(
    bank: ReferenceBank, queries: np.ndarray, samples: np.ndarray, k: int, config: PoolConfig
) -> list[Candidates]:
    """Per query: every row any sample or the query itself hit, with its plain and pooled scores.

    The union is rescored exactly, so pooled scores never depend on which candidate happened to fall
    below a sample's cut-off; kept apart from `fuse` so that many query weights share one search."""
    q, n, dim = samples.shape
    _, hit_rows = bank.search(samples.reshape(q * n, dim), config.sample_k)
    hit_rows = hit_rows.reshape(q, n, -1)
    _, query_rows = bank.search(queries, max(k, config.sample_k))
    out = []
    for i in range(q):
        cand = np.unique(np.concatenate([query_rows[i], hit_rows[i].ravel()]))
        cand = cand[cand >= 0]
        vecs = bank.vectors[cand]
        out.append(Candidates(cand, vecs @ queries[i], _pool(config.method, vecs, samples[i], hit_rows[i], cand)))
    return out


def fuse(candidates: list[Candidates], weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows), each (Q, k): weight x plain score + (1 - weight) x pooled score, per query."""
    out_scores = np.empty((len(candidates), k), dtype=np.float32)
    out_rows = np.empty((len(candidates), k), dtype=np.int64)
    for i, (c, weight) in enumerate(zip(candidates, weights, strict=True)):
        fused = weight * c.plain + (1.0 - weight) * c.pooled
        top = np.argsort(-fused, kind="stable")[:k]
        out_scores[i], out_rows[i] = fused[top], c.rows[top]
    return out_scores, out_rows


def _pool(method: PoolMethod, vecs: np.ndarray, samples: np.ndarray, hit_rows: np.ndarray, cand: np.ndarray) -> np.ndarray:
    if method == "mean":
        return vecs @ l2_normalise(samples.mean(axis=0, keepdims=True))[0]
    if method in ("sum", "max"):
        scores = vecs @ samples.T  # (C, N)
        return scores.mean(axis=1) if method == "sum" else scores.max(axis=1)
    # Rank-based pools: position of each candidate in each sample's hit list.
    n, kk = hit_rows.shape
    pos = np.searchsorted(cand, hit_rows.clip(min=0))
    # RRF scaled so a first place scores 1, like a vote: comparable with the cosine scores it is blended with.
    weights = np.ones((n, kk)) if method == "vote" else (RRF_K + 1) / (RRF_K + 1 + np.arange(kk))[None, :].repeat(n, 0)
    weights = np.where(hit_rows >= 0, weights, 0.0)
    pooled = np.zeros(len(cand))
    np.add.at(pooled, pos.ravel(), weights.ravel())
    return pooled / n


def label_votes(
    bank: ReferenceBank,
    queries: np.ndarray,
    samples: np.ndarray | None,
    classes: list[str],
    k: int = 3,
    similarity_weighted: bool = False,
    query_weight: float = 0.5,
) -> np.ndarray:
    """Per-class probabilities from the labels of the k-NN of the query and of its N samples.

    The query's own votes and the pooled N x k sample votes are each normalised, then blended with
    `query_weight`, so N=0 is plain k-NN and more samples refine rather than drown the query.
    """
    if bank.labels is None:
        raise ValueError("label voting needs a bank with labels")
    own = _vote_fractions(bank, queries[:, None, :], classes, k, similarity_weighted)
    if samples is None or samples.shape[1] == 0:
        return own
    pooled = _vote_fractions(bank, samples, classes, k, similarity_weighted)
    return query_weight * own + (1.0 - query_weight) * pooled


def _vote_fractions(
    bank: ReferenceBank, probes: np.ndarray, classes: list[str], k: int, similarity_weighted: bool
) -> np.ndarray:
    """probes: (Q, P, D) -> (Q, C) share of the P x k neighbour votes that each class received."""
    q, p, dim = probes.shape
    scores, rows = bank.search(probes.reshape(q * p, dim), k)
    class_of = {c: j for j, c in enumerate(classes)}
    label_idx = np.array([class_of[label] for label in bank.labels or []])
    weights = np.clip(scores, 0.0, None) if similarity_weighted else np.ones_like(scores)
    weights = np.where(rows >= 0, weights, 0.0)
    votes = np.zeros((q, len(classes)))
    query_of = np.repeat(np.arange(q), p * rows.shape[1])
    np.add.at(votes, (query_of, label_idx[rows.clip(min=0)].ravel()), weights.ravel())
    total = votes.sum(axis=1, keepdims=True)
    return np.divide(votes, total, out=np.full_like(votes, 1.0 / len(classes)), where=total > 0)
