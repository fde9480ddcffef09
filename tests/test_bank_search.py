"""Reference bank, pooling and retrieval metrics, on small exact examples."""

from __future__ import annotations

import numpy as np
import pytest

from pathsearch.bank import BankConfig, ReferenceBank
from pathsearch.errors import PathsearchError
from pathsearch.eval.retrieval_metrics import mean_metrics, mrr_at, ndcg_at, per_query, recall_at
from pathsearch.sthlm.gate import fit_support_gate
from pathsearch.sthlm.pairs import Pairs
from pathsearch.sthlm.pooling import PoolConfig, label_votes, pooled_search


def _unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_plain_search_is_exact_cosine_knn_and_n0_pooling_is_identical():
    corpus, queries = _unit_rows(500, 16, 0), _unit_rows(20, 16, 1)
    bank = ReferenceBank.build(corpus, [f"d{i}" for i in range(500)])
    scores, rows = bank.search(bank.project(queries), 10)
    brute = np.argsort(-(queries @ corpus.T), axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(rows, brute)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ corpus.T, brute, 1), rtol=1e-5)
    for empty in (None, np.zeros((20, 0, 16), np.float32)):
        s0, r0 = pooled_search(bank, bank.project(queries), empty, 10, PoolConfig(method="rrf", query_weight=0.0))
        np.testing.assert_array_equal(r0, rows)
        np.testing.assert_array_equal(s0, scores)


@pytest.mark.parametrize("method", ["vote", "sum", "max", "rrf", "mean"])
def test_pooling_follows_the_samples_when_they_agree(method):
    corpus = np.eye(6, dtype=np.float32)
    bank = ReferenceBank.build(corpus, [f"d{i}" for i in range(6)])
    query = np.array([[1, 0.2, 0, 0, 0, 0]], np.float32)
    query /= np.linalg.norm(query)
    samples = np.tile(corpus[3], (1, 4, 1))  # every sample lands on d3
    _, rows = pooled_search(bank, query, samples, 3, PoolConfig(method=method, query_weight=0.2, sample_k=1))
    assert rows[0, 0] == 3
    _, rows = pooled_search(bank, query, samples, 3, PoolConfig(method=method, query_weight=1.0, sample_k=1))
    assert rows[0, 0] == 0  # weight 1 keeps the plain query's ranking


def test_outside_queries_get_the_outside_weight():
    corpus = np.eye(6, dtype=np.float32)
    bank = ReferenceBank.build(corpus, [f"d{i}" for i in range(6)])
    queries = np.tile(np.array([1, 0.2, 0, 0, 0, 0], np.float32) / np.hypot(1, 0.2), (2, 1))
    samples = np.tile(corpus[3], (2, 4, 1))
    config = PoolConfig(method="max", query_weight=0.2, outside_query_weight=1.0, sample_k=1)
    _, rows = pooled_search(bank, queries, samples, 3, config, inside=np.array([True, False]))
    assert rows[0, 0] == 3 and rows[1, 0] == 0


def test_support_gate_threshold_comes_from_queries_that_share_answers():
    rng = np.random.default_rng(0)
    docs = _unit_rows(40, 16, 3)
    # Twenty answers each asked twice by near-identical queries; twenty asked once by unrelated queries.
    twins = docs[:20] + 0.05 * rng.normal(size=(20, 16)).astype(np.float32)
    cond = np.concatenate([twins, twins + 0.05 * rng.normal(size=(20, 16)).astype(np.float32), _unit_rows(20, 16, 4)])
    target = np.concatenate([docs[:20], docs[:20], docs[20:]])
    gate = fit_support_gate(Pairs(cond, target))
    near, far = docs[:5] + 0.01, _unit_rows(5, 16, 5)
    assert gate.inside(near).all()
    assert not gate.inside(far).any()
    assert not fit_support_gate(Pairs(cond[40:], target[40:])).inside(near).any()  # no answer recurs: never trust
    assert fit_support_gate(Pairs(cond[:40], target[:40])).inside(far).all()  # every answer recurs: always trust


def test_label_votes_count_query_and_sample_neighbours():
    corpus = np.eye(4, dtype=np.float32)
    bank = ReferenceBank.build(corpus, list("abcd"), labels=["x", "x", "y", "y"])
    query = corpus[[0]]
    probs = label_votes(bank, query, None, ["x", "y"], k=1)
    np.testing.assert_allclose(probs, [[1.0, 0.0]])
    samples = corpus[[2, 3, 2]][None]  # three samples, all near class y
    probs = label_votes(bank, query, samples, ["x", "y"], k=1, query_weight=0.5)
    np.testing.assert_allclose(probs, [[0.5, 0.5]])  # the query keeps half the say
    probs = label_votes(bank, query, samples, ["x", "y"], k=1, query_weight=0.25)
    np.testing.assert_allclose(probs, [[0.25, 0.75]])


def test_bank_pca_add_and_round_trip(tmp_path):
    corpus = _unit_rows(300, 32, 2)
    config = BankConfig(pca_dim=8, whiten=True)
    bank = ReferenceBank.build(corpus[:200], [str(i) for i in range(200)], labels=["a"] * 200, config=config)
    bank.add(corpus[200:], [str(i) for i in range(200, 300)], labels=["b"] * 100)
    assert len(bank) == 300 and bank.dim == 8 and bank.index.ntotal == 300
    queries = bank.project(corpus[:5])
    before = bank.search(queries, 7)
    again = ReferenceBank.load(bank.save(tmp_path / "bank"))
    after = again.search(again.project(corpus[:5]), 7)
    np.testing.assert_array_equal(before[1], after[1])
    assert again.labels == bank.labels and again.ids == bank.ids
    with pytest.raises(PathsearchError, match="does not match the bank's 32"):
        bank.project(np.ones((1, 31), np.float32))


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_find_exact_duplicates(kind, tmp_path):
    corpus = _unit_rows(2000, 16, 3)
    bank = ReferenceBank.build(corpus, [str(i) for i in range(2000)], config=BankConfig(index=kind, nlist=16))
    _, rows = bank.search(bank.project(corpus[:50]), 1)
    assert (rows[:, 0] == np.arange(50)).mean() >= 0.95
    again = ReferenceBank.load(bank.save(tmp_path / kind))
    np.testing.assert_array_equal(again.search(again.project(corpus[:50]), 1)[1], rows)


def test_pca_dim_larger_than_the_bank_is_a_clear_error():
    with pytest.raises(PathsearchError, match="--pca-dim 50 is impossible for 10 vectors"):
        ReferenceBank.build(_unit_rows(10, 16, 0), [str(i) for i in range(10)], config=BankConfig(pca_dim=50))


def test_metrics_match_hand_computed_values():
    qrels = {"q1": {"a": 2, "b": 1, "z": 1}, "q2": {"c": 1}, "q3": {"x": 0}}
    ranking = {"q1": ["b", "x", "a"], "q2": ["y", "y2", "c"], "q3": ["x"]}
    # q1: DCG = 1/log2(2) + 2/log2(4) = 2; IDCG = 2 + 1/log2(3) + 1/log2(4) = 3.1309
    assert ndcg_at(ranking["q1"], qrels["q1"], 10) == pytest.approx(2 / (2.5 + 1 / np.log2(3)))
    assert recall_at(ranking["q1"], qrels["q1"], 100) == pytest.approx(2 / 3)
    assert mrr_at(ranking["q1"], qrels["q1"], 10) == 1.0
    assert ndcg_at(ranking["q2"], qrels["q2"], 10) == pytest.approx(0.5)  # 1/log2(4)
    assert mrr_at(ranking["q2"], qrels["q2"], 10) == pytest.approx(1 / 3)
    assert ndcg_at(ranking["q2"], qrels["q2"], 2) == 0.0
    scores = per_query(ranking, qrels)
    assert set(scores) == {"q1", "q2"}  # q3 has no relevant document
    means = mean_metrics(scores)
    assert means["mrr@10"] == pytest.approx((1 + 1 / 3) / 2)
