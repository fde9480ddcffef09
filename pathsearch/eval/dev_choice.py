"""Choose each learned arm's training length and query weight on a dev part of the training queries.

The defaults were chosen on SciFact at full dimension. Elsewhere they can be wrong in both directions:
where plain search is already near-perfect, a model recalling its training answers pushes the right
document down (BENCHMARKS.md, session 10), and on a PCA-reduced bank the loss-based early stop ends
training long before retrieval stops improving (session 9). A dev part carved from the training queries,
searched exactly as the evaluated queries will be, settles both before the evaluated split is read.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pathsearch.choices import CHECK_EVERY, LONG_EPOCHS
from pathsearch.eval.retrieval_metrics import Qrels, per_query, ranking_of
from pathsearch.sthlm.model import ModelKind, STHLMModel
from pathsearch.sthlm.pairs import Pairs
from pathsearch.sthlm.pooling import PoolConfig, hits_by_query_weight
from pathsearch.sthlm.search import GenerativeSearch
from pathsearch.sthlm.train import EpochCallback, TrainConfig, train

PLAIN = 1.0  # query weight of plain search
QUERY_WEIGHTS = (0.1, 0.2, 0.3, 0.5, 0.8, PLAIN)
DEV_FRACTION = 0.25
MIN_DEV_QUERIES = 20  # fewer cannot tell the settings apart; the defaults stand


@dataclass(frozen=True)
class DevQueries:
    """Held-out training queries: bank-space vectors, model conditions, ids, their qrels, and which of
    them cite a document some fitting query also cites (`seen`)."""

    queries: np.ndarray
    conditions: np.ndarray
    ids: list[str]
    qrels: Qrels
    seen: np.ndarray


@dataclass(frozen=True)
class DevChoice:
    epochs: int
    query_weight: float  # queries the support gate lets through; the others get plain search
    ndcg: float
    model: STHLMModel | None = None  # the dev model as it was at `epochs`

    @property
    def plain(self) -> bool:
        """Every query fused at the plain weight: the arm ranks exactly as plain search does."""
        return self.query_weight == PLAIN

    def pooling(self, base: PoolConfig) -> PoolConfig:
        return base.model_copy(update={"query_weight": self.query_weight, "outside_query_weight": PLAIN})


def carve_dev(qrels: Qrels, fraction: float, seed: int) -> tuple[dict[str, Mapping[str, int]], dict[str, Mapping[str, int]]]:
    """(fit, dev) by whole query, so the dev queries are as new to the dev models as test queries are."""
    ids = sorted(qrels)
    order = np.random.default_rng(seed).permutation(len(ids))
    n_dev = int(round(len(ids) * fraction))
    dev = {ids[i] for i in order[:n_dev]}
    return {q: qrels[q] for q in ids if q not in dev}, {q: qrels[q] for q in ids if q in dev}


def ndcg_by_query_weight(
    search: GenerativeSearch,
    dev: DevQueries,
    corpus_ids: Sequence[str],
    n: int,
    k: int,
    weights: Sequence[float] = QUERY_WEIGHTS,
) -> dict[float, np.ndarray]:
    """Per-query NDCG@10 (in `dev.ids` order) with every query at each weight, all from one set of
    samples, so the weights differ only in how they fuse."""
    probes = search.probes(dev.conditions, n)
    out = {}
    for weight, hits in hits_by_query_weight(search.bank, dev.queries, probes, k, search.pooling, weights).items():
        scores = per_query(ranking_of(dev.ids, hits, corpus_ids), dev.qrels)
        out[weight] = np.array([scores[q]["ndcg@10"] for q in dev.ids])
    return out


def best_query_weight(ndcg: Mapping[float, np.ndarray], inside: np.ndarray, seen: np.ndarray) -> tuple[float, float]:
    """(query weight inside the support gate, mean NDCG@10); queries outside it get plain search.

    Trained as long as the dev queries keep improving, a model knows its training answers well enough to
    bury a new one, and most queries outside the gate have new answers: on SciFact's dev splits, the
    outside weights a dev part chose cost those queries NDCG and gained nothing overall (BENCHMARKS.md,
    session 12). Inside, the dev queries citing only documents no fitting query cites must still do as
    well as with plain search. Ties go to the larger weight, nearer plain search."""
    unseen = ~seen
    best = (-1.0, PLAIN)
    for weight in ndcg:
        per_query = np.where(inside, ndcg[weight], ndcg[PLAIN])
        if unseen.any() and per_query[unseen].mean() < ndcg[PLAIN][unseen].mean():
            continue
        best = max(best, (float(per_query.mean()), weight))
    return best[1], best[0]


def fixed_length(config: TrainConfig, epochs: int) -> TrainConfig:
    """Every pair trains, for exactly `epochs`: the stopping point was already chosen on dev queries."""
    return config.model_copy(update={"max_epochs": epochs, "val_fraction": 0.0, "patience": epochs})


def dev_epochs(config: TrainConfig, n_pairs: int, longest: int = LONG_EPOCHS) -> int:
    """`longest`, or fewer where that would exceed the batches `config` allows at most (max_epochs full
    epochs), so large qrels cost no more than they did under early stopping."""
    batches = -(-min(n_pairs, config.batch_size * config.max_batches_per_epoch) // config.batch_size)
    return max(CHECK_EVERY, min(longest, config.max_epochs * config.max_batches_per_epoch // batches))


def choose_on_dev(
    pairs: Pairs,
    kind: ModelKind,
    n: int,
    config: TrainConfig,
    search: GenerativeSearch,
    dev: DevQueries,
    corpus_ids: Sequence[str],
    k: int,
    epochs: int,
    on_epoch: EpochCallback | None = None,
) -> DevChoice:
    """Train `epochs` (`dev_epochs`) on `pairs`, searching the dev queries every CHECK_EVERY epochs: the
    best (epochs, query weight). Ties go to the shorter training."""
    best = DevChoice(0, search.pooling.query_weight, -1.0)
    inside = search.gate.inside(dev.conditions) if search.gate is not None else np.ones(len(dev.ids), dtype=bool)

    def check(epoch: int, model: STHLMModel) -> None:
        nonlocal best
        if (epoch + 1) % CHECK_EVERY:
            return
        search.model = model
        weight, ndcg = best_query_weight(ndcg_by_query_weight(search, dev, corpus_ids, n, k), inside, dev.seen)
        if ndcg > best.ndcg:
            best = DevChoice(epoch + 1, weight, ndcg, copy.deepcopy(model))

    train(pairs, kind, fixed_length(config, epochs), on_epoch, check)
    return best
