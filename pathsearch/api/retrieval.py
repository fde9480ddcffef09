"""`pathsearch eval retrieval`: plain k-NN vs STHLM vs a non-generative control on one held-out split."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pathsearch.bank.bank import BankConfig, ReferenceBank
from pathsearch.bank.pca import l2_normalise
from pathsearch.choices import LONG_EPOCHS, RETRIEVAL_LR
from pathsearch.errors import PathsearchError
from pathsearch.eval.dev_choice import (
    DEV_FRACTION,
    MIN_DEV_QUERIES,
    DevChoice,
    DevQueries,
    carve_dev,
    choose_on_dev,
    dev_epochs,
    fixed_length,
)
from pathsearch.eval.retrieval_data import RetrievalDataset, load_retrieval_dataset
from pathsearch.eval.retrieval_metrics import Qrels, mean_metrics, per_query, ranking_of, sample_spread
from pathsearch.io.atomic import write_json
from pathsearch.io.manifest import file_fingerprint, new_manifest
from pathsearch.sthlm.gate import fit_support_gate
from pathsearch.sthlm.model import ModelKind, STHLMModel
from pathsearch.sthlm.pairs import Pairs, qrel_pairs
from pathsearch.sthlm.pooling import PoolConfig
from pathsearch.sthlm.search import GenerativeSearch
from pathsearch.sthlm.train import EpochCallback, TrainConfig, train

TrainingProgress = Callable[[str, int], EpochCallback]  # (arm, epochs at most) -> per-epoch callback
DEFAULT_SAMPLES = 10
SEARCH_K = 100
ARM_KINDS: tuple[tuple[str, ModelKind], ...] = (("sthlm", "flow"), ("control", "control"))


@dataclass(frozen=True)
class ArmPlan:
    """How a learned arm's final model comes about, and how it is fused with the plain query."""

    config: TrainConfig  # training on every training pair
    pooling: PoolConfig
    # Already final: the dev part chose plain search, whose ranking no further training changes. Kept
    # (the dev model at the chosen length) for the sample spread, instead of training a model unused.
    ready: STHLMModel | None = None


def evaluate_retrieval(
    dataset: Path | str,
    split: str,
    train_split: str = "train",
    samples: Sequence[int] = (0, 1, 5, 10, 20, 50),
    pca_dim: int | None = None,
    train_config: TrainConfig | None = None,
    on_epoch: TrainingProgress | None = None,
    on_choice: Callable[[str, DevChoice], None] | None = None,
    longest_epochs: int = LONG_EPOCHS,
    json_out: Path | None = None,
) -> dict[str, Any]:
    """Train STHLM and the control on `train_split` only; every setting is fixed before `split` is read.

    Each learned arm's training length (at most `longest_epochs`) and query weight are chosen on a
    quarter of the training queries, held out from a first pair of models (`eval.dev_choice`); the
    evaluated split is touched only to score the final rankings. Queries unlike every training query
    lean on their own plain scores (`sthlm.gate`), in both learned arms. Behind a PCA-reduced bank the
    models are conditioned on the full-dimension query too: it is there at query time, and only the
    stored vectors shrink. With `json_out` the result is written there, and beside it a manifest
    (`<stem>.manifest.json`), since the JSON's keys are fixed: parameters, inputs, versions, choices.
    """
    start = time.perf_counter()
    if split == train_split:
        raise PathsearchError(f"--split {split} is also the training split: evaluate on held-out queries")
    data = load_retrieval_dataset(dataset)
    eval_qrels, train_qrels = data.qrels(split), data.qrels(train_split)
    train_qrels = {q: docs for q, docs in train_qrels.items() if q not in eval_qrels}
    bank = ReferenceBank.build(data.corpus, data.corpus_ids, config=BankConfig(pca_dim=pca_dim))
    queries = bank.project(data.queries)
    conditions = queries if pca_dim is None else np.concatenate([queries, l2_normalise(data.queries)], axis=1)
    config = train_config or retrieval_train_config()
    pairs = qrel_pairs(conditions, data.query_row, bank.vectors, data.corpus_row, train_qrels)
    if not len(pairs):
        raise PathsearchError(f"split '{train_split}' gives no (query, relevant document) pairs to train on")
    gate = fit_support_gate(pairs)  # shared by both arms: the control is fused exactly as STHLM is
    arms = _choose_on_dev(data, bank, queries, conditions, train_qrels, config, longest_epochs, on_epoch, on_choice)
    flow, control = (_final_model(pairs, kind, name, arms[name], on_epoch) for name, kind in ARM_KINDS)
    flow_pool, control_pool = arms["sthlm"].pooling, arms["control"].pooling

    eval_ids, rows = data.judged(eval_qrels)
    is_seen = _cites_a_training_answer(eval_ids, eval_qrels, train_qrels)
    seen = [q for q, s in zip(eval_ids, is_seen, strict=True) if s]
    unseen = [q for q, s in zip(eval_ids, is_seen, strict=True) if not s]

    def arm(model: STHLMModel | None, n: int, pool: PoolConfig) -> tuple[dict[str, float | None], dict[str, dict[str, float]]]:
        search = GenerativeSearch(bank, model, pooling=pool, gate=gate)
        start = time.perf_counter()
        _, hits = search.search(queries[rows], n, SEARCH_K, conditions[rows])
        ms = 1000 * (time.perf_counter() - start) / max(len(rows), 1)
        scores = per_query(ranking_of(eval_ids, hits, data.corpus_ids), eval_qrels)
        metrics: dict[str, float | None] = {**mean_metrics(scores), "ms_per_query": ms}
        if model is not None and model.kind == "flow":
            metrics["sample_spread"] = sample_spread(search.probes(conditions[rows], n))
        return metrics, scores

    baseline, base_q = arm(None, 0, PoolConfig())
    sthlm, sthlm_q = arm(flow, DEFAULT_SAMPLES, flow_pool)
    ctrl, ctrl_q = arm(control, 1, control_pool)
    sweep = [{"N": n, **(sthlm if n == DEFAULT_SAMPLES else arm(flow, n, flow_pool)[0])} for n in samples]

    def group(ids: list[str]) -> dict[str, Any]:
        return {
            "queries": len(ids),
            **{name: mean_metrics(s, ids)["ndcg@10"] for name, s in (("baseline", base_q), ("sthlm", sthlm_q), ("control", ctrl_q))},
        }

    result = {
        "split": split,
        "queries": len(eval_ids),
        "baseline": baseline,
        "sthlm": {"N": DEFAULT_SAMPLES, **sthlm},
        "control": ctrl,
        "breakdown": {"seen": group(seen), "unseen": group(unseen)},
        "sweep": sweep,
    }
    if json_out is not None:
        params = {
            "split": split,
            "train_split": train_split,
            "samples": list(samples),
            "pca_dim": pca_dim,
            "max_epochs": longest_epochs,
            "train": config.model_dump(),
        }
        files = ["corpus.npy", "queries.npy", f"qrels/{split}.tsv", f"qrels/{train_split}.tsv"]
        manifest = new_manifest("eval retrieval", params, {f: file_fingerprint(data.root / f) for f in files})
        manifest["chosen_on_dev"] = {
            name: {
                "epochs": plan.config.max_epochs,
                "query_weight_inside_gate": plan.pooling.query_weight,
                "final_model": "the dev model (plain search chosen)" if plan.ready else "trained on every training query",
            }
            for name, plan in arms.items()
        }
        manifest["seconds"] = round(time.perf_counter() - start, 1)
        write_json(json_out, result)
        write_json(json_out.with_name(f"{json_out.stem}.manifest.json"), manifest)
    return result


def retrieval_train_config(seed: int = 0) -> TrainConfig:
    """The general defaults at a higher learning rate: both arms learn in 250 epochs what they learnt in
    1,000, at the same NDCG@10 (SciFact dev splits; BENCHMARKS.md, session 17)."""
    return TrainConfig(lr=RETRIEVAL_LR, seed=seed)


def _cites_a_training_answer(ids: Sequence[str], qrels: Qrels, train_qrels: Qrels) -> np.ndarray:
    """(len(ids),) True where a query has a relevant document that some training query has too."""
    answers = {d for docs in train_qrels.values() for d, g in docs.items() if g > 0}
    return np.array([any(g > 0 and d in answers for d, g in qrels[q].items()) for q in ids], dtype=bool)


def _choose_on_dev(
    data: RetrievalDataset,
    bank: ReferenceBank,
    queries: np.ndarray,
    conditions: np.ndarray,
    train_qrels: Qrels,
    config: TrainConfig,
    longest_epochs: int,
    on_epoch: TrainingProgress | None,
    on_choice: Callable[[str, DevChoice], None] | None,
) -> dict[str, ArmPlan]:
    """Per arm: how to train it on every training pair, and how to fuse it with the plain query."""
    fit, dev_qrels = carve_dev(train_qrels, DEV_FRACTION, config.seed)
    dev_ids, rows = data.judged(dev_qrels)
    fit_pairs = qrel_pairs(conditions, data.query_row, bank.vectors, data.corpus_row, fit)
    if len(dev_ids) < MIN_DEV_QUERIES or len(fit_pairs) < 2:
        return {name: ArmPlan(config, PoolConfig()) for name, _ in ARM_KINDS}
    seen = _cites_a_training_answer(dev_ids, dev_qrels, fit)
    dev = DevQueries(queries[rows], conditions[rows], dev_ids, dev_qrels, seen)
    gate = fit_support_gate(fit_pairs)
    epochs = dev_epochs(config, len(fit_pairs), longest_epochs)
    chosen = {}
    for name, kind in ARM_KINDS:
        search = GenerativeSearch(bank, None, gate=gate)
        progress = on_epoch(f"{name} (dev)", epochs) if on_epoch else None
        n = DEFAULT_SAMPLES if kind == "flow" else 1
        choice = choose_on_dev(fit_pairs, kind, n, config, search, dev, data.corpus_ids, SEARCH_K, epochs, progress)
        if on_choice is not None:
            on_choice(name, choice)
        ready = choice.model if choice.plain else None
        chosen[name] = ArmPlan(fixed_length(config, choice.epochs), choice.pooling(PoolConfig()), ready)
    return chosen


def _final_model(
    pairs: Pairs, kind: ModelKind, name: str, plan: ArmPlan, on_epoch: TrainingProgress | None
) -> STHLMModel:
    if plan.ready is not None:
        return plan.ready
    return train(pairs, kind, plan.config, on_epoch(name, plan.config.max_epochs) if on_epoch else None)[0]
