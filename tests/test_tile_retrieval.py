"""Class-level tile retrieval (`eval retrieval FEATURES.h5`): exact metrics, folds, spread, the JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pathsearch.api.embed import embed
from pathsearch.api.tile_retrieval import evaluate_tile_retrieval
from pathsearch.errors import PathsearchError
from pathsearch.eval.retrieval_metrics import sample_spread
from pathsearch.eval.tile_retrieval import fold_ids, tile_metrics
from pathsearch.io.features_h5 import read_features_h5, write_features_h5
from pathsearch.sthlm.search import GenerativeSearch
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import real_data


def test_tile_metrics_by_hand():
    bank = np.array(["a", "a", "a", "b", "b", "c"])
    hits = np.array([[0, 3, 1, 5, 4], [3, -1, -1, -1, -1]])  # query a; query b with one hit
    m = tile_metrics(hits, bank, np.array(["a", "b"]))
    np.testing.assert_allclose(m["precision@1"], [1, 1])
    np.testing.assert_allclose(m["precision@5"], [2 / 5, 1 / 5])
    np.testing.assert_allclose(m["mv@5"], [1, 1])  # a: 2 of 5 beats b's 2 by rank; b: its only hit
    # AP@5 of a: hits at ranks 1 and 3 -> (1 + 2/3) / min(3 relevant, 5); of b: rank 1 -> 1 / 2 relevant.
    np.testing.assert_allclose(m["map@5"], [(1 + 2 / 3) / 3, 1 / 2])
    tie = tile_metrics(np.array([[3, 0, 4, 1, 5]]), bank, np.array(["a"]))
    assert tie["mv@5"][0] == 0  # b and a both twice: b ranks first, so the vote says b


def test_folds_deal_every_class_across_folds_reproducibly():
    labels = ["a"] * 8 + ["b"] * 4 + ["c"] * 3
    fold = fold_ids(labels, 4, seed=1)
    for c, n in (("a", 8), ("b", 4), ("c", 3)):
        counts = np.bincount(fold[np.array(labels) == c], minlength=4)
        assert counts.max() - counts.min() <= 1 and counts.sum() == n
    np.testing.assert_array_equal(fold, fold_ids(labels, 4, seed=1))
    assert not np.array_equal(fold, fold_ids(labels, 4, seed=2))


def test_sample_spread_is_the_mean_cosine_between_samples():
    same = np.repeat(np.array([[[1.0, 0.0, 0.0]]]), 4, axis=1)
    assert sample_spread(same) == pytest.approx(1.0)
    assert sample_spread(np.eye(3)[None]) == pytest.approx(0.0)
    assert sample_spread(same[:, :1]) is None and sample_spread(None) is None


def _labelled_features(path, n_classes: int = 4, per_class: int = 6, dim: int = 12) -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(n_classes, dim))
    feats = np.concatenate([c + 0.6 * rng.normal(size=(per_class, dim)) for c in centres]).astype(np.float32)
    labels = [f"class{i}" for i in range(n_classes) for _ in range(per_class)]
    paths = [f"{label}/{i}.png" for i, label in enumerate(labels)]
    write_features_h5(path, feats, {"encoder": "synthetic"}, paths=paths, labels=labels)


def test_tile_retrieval_json_and_an_exact_baseline(tmp_path):
    h5 = tmp_path / "features.h5"
    _labelled_features(h5)
    out = tmp_path / "r.json"
    proc = run_cli("eval", "retrieval", h5, "--samples", "0,2", "--folds", "3", "--seeds", "2", "--json", out)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert set(result) == {"split", "queries", "baseline", "sthlm", "control", "breakdown", "sweep"}
    assert result["queries"] == 24 and result["breakdown"] == {f"class{i}": 6 for i in range(4)}
    metrics = {"precision@1", "precision@5", "mv@5", "map@5"}
    assert set(result["baseline"]) == metrics | {f"{m}_sd" for m in metrics}
    chosen = {"sample_spread", "query_weight"}
    assert set(result["sthlm"]) == {"N"} | metrics | chosen | {f"{m}_sd" for m in metrics | chosen}
    assert set(result["control"]) == metrics | {"query_weight"} | {f"{m}_sd" for m in metrics | {"query_weight"}}
    assert 0 < result["sthlm"]["query_weight"] <= 1 and 0 < result["control"]["query_weight"] <= 1
    assert [row["N"] for row in result["sweep"]] == [0, 2]
    # Plain k-NN by brute force over the same folds; the sweep's N=0 is the same search.
    data = read_features_h5(h5)
    labels = np.array(data.labels)
    unit = data.features / np.linalg.norm(data.features, axis=1, keepdims=True)
    per_seed = []
    for seed in range(2):
        fold = fold_ids(list(labels), 3, seed)
        p1 = [labels[np.flatnonzero(fold != fold[q])[np.argmax(unit[fold != fold[q]] @ unit[q])]] == labels[q] for q in range(24)]
        per_seed.append(np.mean(p1))
    assert result["baseline"]["precision@1"] == pytest.approx(np.mean(per_seed))
    assert result["sweep"][0]["precision@1"] == pytest.approx(result["baseline"]["precision@1"])
    manifest = json.loads((tmp_path / "r.manifest.json").read_text())
    assert manifest["params"]["folds"] == 3 and manifest["params"]["seeds"] == 2


def test_samples_pointing_away_get_the_plain_query_weight(tmp_path, monkeypatch):
    """The query weight is chosen on a dev part of each fold's bank: a model whose samples point away
    from the query must be blended out there, leaving STHLM exactly plain k-NN."""
    h5 = tmp_path / "features.h5"
    _labelled_features(h5)

    def away(self, conditions, n):
        return None if n == 0 or self.model is None else np.repeat(-conditions[:, None, :], max(n, 1), axis=1)

    monkeypatch.setattr(GenerativeSearch, "probes", away)
    result = evaluate_tile_retrieval(h5, samples=(5,), folds=3, seeds=1)
    assert result["sthlm"]["query_weight"] == 1.0 and result["control"]["query_weight"] == 1.0
    for metric in ("precision@1", "precision@5", "mv@5", "map@5"):
        assert result["sthlm"][metric] == pytest.approx(result["baseline"][metric])
        assert result["control"][metric] == pytest.approx(result["baseline"][metric])


def test_unlabelled_features_are_refused(tmp_path):
    h5 = tmp_path / "features.h5"
    write_features_h5(h5, np.ones((4, 3), np.float32), {}, paths=[f"{i}.png" for i in range(4)])
    with pytest.raises(PathsearchError, match="no tile labels"):
        evaluate_tile_retrieval(h5)
    assert_one_line_error(run_cli("eval", "retrieval", h5), "no tile labels")


def test_real_crc_tiles_run_end_to_end(tmp_path):
    """32 real CRC tiles, 8 classes: each query has 3 relevant tiles in a 24-tile bank (chance 1/8)."""
    features = embed(real_data("tiles/crc-he"), tmp_path / "emb")
    result = evaluate_tile_retrieval(features, samples=(0, 10), folds=4, seeds=2)
    assert result["queries"] == 32 and set(result["breakdown"].values()) == {4}
    assert result["baseline"]["precision@1"] > 0.5 and result["baseline"]["mv@5"] > 0.4
    assert 0.0 < result["sthlm"]["sample_spread"] < 1.0
    assert result["sweep"][1] == {"N": 10, **{k: v for k, v in result["sthlm"].items() if k != "N"}}
