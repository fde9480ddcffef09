"""Few-shot tile classification: a support bank, STHLM trained on support pairs, pooled label votes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.linear_model import LogisticRegression

from pathsearch.bank.bank import BankConfig, ReferenceBank
from pathsearch.choices import Head
from pathsearch.sthlm.pairs import view_pairs
from pathsearch.sthlm.search import GenerativeSearch
from pathsearch.sthlm.train import PAIRS_PER_TILE, train_on_labels


class FewShotConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    head: Head = "knn"
    samples: int = Field(default=10, ge=0, description="STHLM samples per query; 0 = plain k-NN")
    # 1, not 3: every support tile sits in the bank with its augmented views, so the next neighbours
    # are mostly copies of the first; on CRC 2-shot k=1 beat k=3 for k-NN and STHLM alike.
    k: int = Field(default=1, ge=1)
    pca_dim: int | None = Field(default=None, ge=1)
    similarity_weighted: bool = True
    query_weight: float = Field(default=0.5, ge=0, le=1, description="share of the vote kept by the query itself")
    pairs_per_tile: int = Field(default=PAIRS_PER_TILE, ge=1)
    views_per_tile: int = Field(default=4, ge=0)
    views_in_bank: bool = Field(default=True, description="augmented support views also vote, labelled as their tile")
    seed: int = 0


@dataclass
class FewShotClassifier:
    search: GenerativeSearch
    classes: list[str]
    config: FewShotConfig
    train_s: float
    probe: LogisticRegression | None = None

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        queries = self.search.bank.project(features)
        if self.probe is None:
            return self.search.class_probabilities(
                queries, self.config.samples, self.classes, self.config.k, self.config.similarity_weighted, self.config.query_weight
            )
        # Like the votes: the query's own probabilities, blended with their mean over its N samples.
        columns = [list(self.probe.classes_).index(c) for c in self.classes]
        own = self.probe.predict_proba(queries)[:, columns]
        samples = self.search.probes(queries, self.config.samples)
        if samples is None:
            return own
        q, n, dim = samples.shape
        pooled = self.probe.predict_proba(samples.reshape(q * n, dim))[:, columns].reshape(q, n, -1).mean(axis=1)
        return self.config.query_weight * own + (1.0 - self.config.query_weight) * pooled


def fit_few_shot(
    features: np.ndarray,
    labels: list[str],
    config: FewShotConfig,
    view_features: np.ndarray | None = None,
    view_origin: np.ndarray | None = None,
) -> FewShotClassifier:
    """STHLM learns 'what else this class looks like' from same-class pairs and augmented views."""
    classes = sorted(set(labels))
    has_views = view_features is not None and view_origin is not None and len(view_features) > 0
    bank_feats, bank_labels = features, list(labels)
    if has_views and config.views_in_bank:
        # Few-shot banks are tiny; stain- and orientation-jittered copies widen each class's footprint.
        bank_feats = np.concatenate([features, view_features])
        bank_labels += [labels[i] for i in view_origin]
    ids = [str(i) for i in range(len(bank_labels))]
    bank = ReferenceBank.build(bank_feats, ids, labels=bank_labels, config=BankConfig(pca_dim=config.pca_dim))
    start = time.perf_counter()
    model = None
    if config.samples > 0:
        # Same-class pairs over everything in the bank, views included: samples should land where voters are.
        extra = [view_pairs(bank.project(view_features), bank.project(features)[view_origin])] if has_views else []
        model = train_on_labels(bank.vectors, bank_labels, config.seed, config.pairs_per_tile, extra)
    probe = fit_probe(bank.vectors, bank_labels) if config.head == "linear" else None
    return FewShotClassifier(GenerativeSearch(bank, model), classes, config, time.perf_counter() - start, probe)


def fit_probe(vectors: np.ndarray, labels: list[str]) -> LogisticRegression:
    """Class-balanced, so a class that covers little of the support is not drowned by the rest.

    A probe learns which embedding directions separate the classes; k-NN weighs all of them alike.
    On GlaS that generalised better across support choices (BENCHMARKS.md)."""
    return LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000).fit(vectors, labels)
