"""Trust a learned query -> document model only near the queries it was trained on.

A model trained on (query, relevant document) pairs learns which documents tend to be answers. For a
query unlike every training query that prior pushes the truly relevant, never-seen document down, so
such queries lean on their own plain search instead. How similar "near" must be is read off the
training pairs themselves: leave one training query out and ask whether its nearest other training
query predicts that they share an answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np
from sklearn.metrics import roc_curve

from pathsearch.bank.pca import l2_normalise
from pathsearch.sthlm.pairs import Pairs


@dataclass(frozen=True)
class SupportGate:
    index: faiss.IndexFlatIP
    threshold: float

    def inside(self, queries: np.ndarray) -> np.ndarray:
        """(Q,) True where a query is at least `threshold`-similar to some training condition."""
        if not np.isfinite(self.threshold):
            return np.full(len(queries), self.threshold < 0)
        scores, _ = self.index.search(l2_normalise(queries), 1)
        return scores[:, 0] >= self.threshold


def fit_support_gate(pairs: Pairs) -> SupportGate:
    """Threshold = Youden's J on leave-one-out nearest-condition similarity vs "shares a target"."""
    conds, cond_of_pair = np.unique(pairs.cond, axis=0, return_inverse=True)
    _, target_of_pair = np.unique(pairs.target, axis=0, return_inverse=True)
    cond_of_pair, target_of_pair = cond_of_pair.ravel(), target_of_pair.ravel()
    conds_per_target = np.bincount(np.unique(np.stack([target_of_pair, cond_of_pair]), axis=1)[0])
    shares = np.zeros(len(conds), dtype=bool)
    np.logical_or.at(shares, cond_of_pair, conds_per_target[target_of_pair] > 1)
    unit = l2_normalise(conds)
    index = faiss.IndexFlatIP(unit.shape[1])
    index.add(unit)
    # With no recurring answer the model has shown no query it can help; with only recurring ones, no
    # query it would harm.
    if len(conds) < 2 or not shares.any():
        return SupportGate(index, np.inf)
    if shares.all():
        return SupportGate(index, -np.inf)
    scores, rows = index.search(unit, 2)
    nearest_other = np.where(rows[:, 0] == np.arange(len(conds)), scores[:, 1], scores[:, 0])
    fpr, tpr, thresholds = roc_curve(shares, nearest_other)
    return SupportGate(index, float(thresholds[np.argmax(tpr - fpr)]))
