"""`pathsearch search`: reference features.h5 or a saved bank in, k matches per query tile out."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from pathsearch.api.search import search
from pathsearch.io.features_h5 import write_features_h5
from tests.cli import assert_one_line_error, run_cli

CLASSES = ("Tumor", "Stroma", "Lympho")
SIDE_PX = 448


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture()
def files(tmp_path):
    """A labelled reference folder (3 clustered classes) and slide-tile queries, as `pathsearch embed` writes them."""
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    ref = _unit(np.repeat(centres, 10, axis=0) + 0.3 * rng.normal(size=(30, 16)))
    labels = [c for c in CLASSES for _ in range(10)]
    paths = [f"/ref/{label}/tile_{i}.png" for i, label in enumerate(labels)]
    attrs = {"encoder": "he-texture", "dim": 16, "source": "/ref"}
    write_features_h5(tmp_path / "ref.h5", ref, attrs, paths=paths, labels=labels)
    queries = _unit(centres[[0, 1, 2, 0]] + 0.3 * rng.normal(size=(4, 16)))
    coords = np.array([[0, 0], [448, 0], [0, 448], [448, 448]])
    q_attrs = {**attrs, "source": "/tiles/slide_A"}
    write_features_h5(tmp_path / "q.h5", queries, q_attrs, coords=coords, coords_attrs={"patch_size_level0": SIDE_PX})
    return tmp_path, ref, labels, paths, queries, coords


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_plain_search_is_exact_knn_and_the_bank_is_reusable(files):
    tmp, ref, labels, paths, queries, coords = files
    result = search(tmp / "q.h5", tmp / "ref.h5", tmp / "out", k=5)
    rows = _rows(result.files["neighbours_csv"])
    assert len(rows) == 4 * 5
    exact = np.argsort(-(queries @ ref.T), axis=1, kind="stable")[:, :5]
    for qi, (x, y) in enumerate(coords):
        mine = rows[qi * 5 : (qi + 1) * 5]
        assert {r["query"] for r in mine} == {f"slide_A [x={x},y={y},w={SIDE_PX},h={SIDE_PX}]"}
        assert [int(r["rank"]) for r in mine] == [1, 2, 3, 4, 5]
        assert [r["match"] for r in mine] == [paths[j] for j in exact[qi]]
        assert [r["label"] for r in mine] == [labels[j] for j in exact[qi]]
        np.testing.assert_allclose([float(r["score"]) for r in mine], (queries @ ref.T)[qi, exact[qi]], atol=1e-4)
    # The bank it built is kept, and searching it again gives the same file.
    again = search(tmp / "q.h5", result.files["bank"], tmp / "out2", k=5)
    assert again.files["neighbours_csv"].read_text() == result.files["neighbours_csv"].read_text()
    assert "bank" not in again.files


def test_sthlm_search_trains_on_labels_and_its_checkpoint_reproduces_it(files):
    tmp = files[0]
    first = search(tmp / "q.h5", tmp / "ref.h5", tmp / "out", k=3, samples=5)
    rows = _rows(first.files["neighbours_csv"])
    assert len(rows) == 4 * 3
    # Queries were drawn around class centres 0, 1, 2, 0: the widened search still finds their class first.
    top = [r["label"] for r in rows if r["rank"] == "1"]
    assert top == [CLASSES[0], CLASSES[1], CLASSES[2], CLASSES[0]]
    reused = search(tmp / "q.h5", first.files["bank"], tmp / "out2", k=3, samples=5, sthlm=first.files["sthlm"])
    assert reused.files["neighbours_csv"].read_text() == first.files["neighbours_csv"].read_text()


def test_cli_search_and_its_bad_inputs(files, tmp_path):
    tmp, ref, *_ = files
    ok = run_cli("search", tmp / "q.h5", "--bank", tmp / "ref.h5", "-o", tmp / "cli", "--k", "2")
    assert ok.returncode == 0, ok.stderr
    assert len(_rows(tmp / "cli" / "neighbours.csv")) == 8

    write_features_h5(tmp / "other.h5", ref, {"encoder": "pathgen-clip", "dim": 16}, paths=["a"] * 30)
    write_features_h5(tmp / "wide.h5", np.ones((2, 8), np.float32), {"encoder": "he-texture"}, paths=["a", "b"])
    write_features_h5(tmp / "unlabelled.h5", ref, {"encoder": "he-texture"}, paths=["a"] * 30)
    cases = [
        (("other.h5", "--bank", "ref.h5"), "embedded with pathgen-clip"),
        (("wide.h5", "--bank", "ref.h5"), "embedding dimension 8"),
        (("q.h5", "--bank", "unlabelled.h5", "--samples", "3"), "no labels to train STHLM"),
        (("q.h5", "--bank", "q.h5.missing"), "does not exist"),
        (("q.h5", "--bank", "cli/neighbours.csv"), "give a bank folder"),
    ]
    for i, ((query, flag, bank, *rest), needle) in enumerate(cases):
        out = tmp / f"bad{i}"
        proc = run_cli("search", tmp / query, flag, tmp / bank, "-o", out, *rest)
        assert_one_line_error(proc, needle)
        assert not (out / "neighbours.csv").exists()
