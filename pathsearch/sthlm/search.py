"""Generative search: sample N probes per query, search each, pool. N=0 is plain k-NN."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pathsearch.bank.bank import ReferenceBank
from pathsearch.sthlm.gate import SupportGate
from pathsearch.sthlm.model import SampleConfig, STHLMModel
from pathsearch.sthlm.pooling import PoolConfig, label_votes, pooled_search


@dataclass
class GenerativeSearch:
    """Works on vectors already in the bank's space (`bank.project`)."""

    bank: ReferenceBank
    model: STHLMModel | None
    sampling: SampleConfig = field(default_factory=SampleConfig)
    pooling: PoolConfig = field(default_factory=PoolConfig)
    gate: SupportGate | None = None

    def probes(self, conditions: np.ndarray, n: int) -> np.ndarray | None:
        if n == 0 or self.model is None:
            return None
        if self.model.kind == "control":
            return self.model.predict(conditions)[:, None, :]  # deterministic: one probe whatever n is
        return self.model.sample(conditions, n, self.sampling)

    def search(
        self, queries: np.ndarray, n: int, k: int, conditions: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`conditions` (default: the queries) are what the model and gate see, when they know more than
        the bank-space query: the full-dimension query behind a PCA-reduced bank."""
        conditions = queries if conditions is None else conditions
        probes = self.probes(conditions, n)
        # Only a blended search reads the gate; plain k-NN (N=0) stays exactly that, with no extra search.
        inside = self.gate.inside(conditions) if self.gate is not None and probes is not None else None
        return pooled_search(self.bank, queries, probes, k, self.pooling, inside)

    def class_probabilities(
        self,
        queries: np.ndarray,
        n: int,
        classes: list[str],
        k: int = 3,
        similarity_weighted: bool = False,
        query_weight: float = 0.5,
    ) -> np.ndarray:
        probes = self.probes(queries, n)
        return label_votes(self.bank, queries, probes, classes, k, similarity_weighted, query_weight)
