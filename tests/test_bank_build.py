"""`pathsearch bank build`: many features.h5 -> one bank, in shards, with each tile's provenance."""

import csv

import faiss
import numpy as np
import pytest
from PIL import Image

from pathsearch.bank.bank import BankConfig, ReferenceBank
from pathsearch.bank.build import build_bank
from pathsearch.errors import PathsearchError
from pathsearch.io.features_h5 import write_features_h5
from tests.cli import assert_one_line_error, run_cli

ROWS, DIM, SIDE = (300, 200, 250), 32, 448


CENTRES = np.random.default_rng(99).normal(size=(12, DIM)).astype(np.float32)


def _clustered(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Tight clusters shared by all slides, so even short PQ codes can tell them apart."""
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, len(CENTRES), n)
    return CENTRES[cluster] + 0.05 * rng.normal(size=(n, DIM)).astype(np.float32), cluster


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Three slides' features.h5 as `pathsearch embed` writes them for slide tile sets."""
    root = tmp_path_factory.mktemp("emb")
    files, feats, coords, clusters = [], [], [], []
    for i, n in enumerate(ROWS):
        xy = np.stack([np.arange(n) % 20 * SIDE, np.arange(n) // 20 * SIDE], axis=1).astype(np.int64)
        f, cluster = _clustered(n, i)
        path = root / f"slide{i}" / "features.h5"
        path.parent.mkdir()
        attrs = {"encoder": "he-texture", "dim": DIM, "source": f"/tiles/slide{i}", "slide": f"/slides/slide{i}.svs"}
        write_features_h5(path, f, attrs, coords=xy, coords_attrs={"patch_size_level0": SIDE, "level0_mpp": 0.25})
        files.append(path)
        feats.append(f)
        coords.append(xy)
        clusters.append(cluster)
    return root, files, np.concatenate(feats), np.concatenate(coords), np.concatenate(clusters)


def test_sharded_build_equals_in_memory_bank_and_keeps_provenance(cohort, tmp_path):
    root, files, feats, coords, _ = cohort
    config = BankConfig(pca_dim=8)
    # Shards of 64 rows straddle every file boundary; the training sample is every row, as in memory.
    bank = ReferenceBank.load(build_bank(files, tmp_path / "bank", config, shard_rows=64).out_dir)
    reference = ReferenceBank.build(feats, [str(i) for i in range(len(feats))], config=config)
    np.testing.assert_allclose(bank.vectors, reference.vectors, atol=1e-5)
    queries = reference.project(feats[::37])
    assert np.array_equal(bank.search(queries, 5)[1], reference.search(queries, 5)[1])
    assert len(bank) == sum(ROWS) and bank.labels is None
    row = ROWS[0] + 7  # the eighth tile of slide1
    assert bank.ids[row] == f"slide1 [x={coords[row][0]},y={coords[row][1]},w={SIDE},h={SIDE}]"
    origin = bank.provenance.origin(row)
    assert (origin.source.slide, origin.x, origin.y, origin.size_level0_px) == ("/slides/slide1.svs", *coords[row], SIDE)
    assert origin.source.features == str(files[1].resolve()) and origin.source.level0_mpp == 0.25
    same = build_bank(files, tmp_path / "one-shard", config, shard_rows=10_000)
    # Equal up to BLAS blocking: a projection's last bits depend on how many rows go in at once.
    np.testing.assert_allclose(np.load(same.out_dir / "vectors.npy"), bank.vectors, rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind,faiss_type", [("ivf", faiss.IndexIVFFlat), ("ivfpq", faiss.IndexIVFPQ), ("hnsw", faiss.IndexHNSWFlat)])
def test_large_bank_index_kinds_find_their_own_tiles(cohort, tmp_path, kind, faiss_type):
    _, files, feats, _, clusters = cohort
    config = BankConfig(index=kind, nlist=8, nprobe=4)
    bank = ReferenceBank.load(build_bank(files, tmp_path / kind, config, shard_rows=100, train_rows=400).out_dir)
    assert isinstance(bank.index, faiss_type) and bank.index.ntotal == sum(ROWS)
    # Search-time knobs come back from bank.json, not from faiss's defaults.
    assert bank.index.hnsw.efSearch == 64 if kind == "hnsw" else bank.index.nprobe == 4
    _, hits = bank.search(bank.project(feats[::10]), 10)
    # Trained on a 400-row sample, searched over all rows: every hit is in the query's own cluster.
    assert (clusters[hits] == clusters[::10, None]).mean() >= 0.99


def test_cli_build_then_search_names_and_places_hits(cohort, tmp_path):
    root, files, feats, coords, _ = cohort
    proc = run_cli("bank", "build", root, "-o", tmp_path / "bank", "--index", "ivf", "--nlist", "8")
    assert proc.returncode == 0, proc.stderr
    assert f"{sum(ROWS)} tiles from 3 feature files" in proc.stderr
    search = run_cli("search", files[2], "--bank", tmp_path / "bank", "-o", tmp_path / "hits", "--k", "3")
    assert search.returncode == 0, search.stderr
    with (tmp_path / "hits" / "neighbours.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * ROWS[2]
    for row in rows[:30]:
        slide = row["match"].split(" [")[0]
        assert row["slide"] == f"/slides/{slide}.svs"
        assert row["match"] == f"{slide} [x={row['x_level0_px']},y={row['y_level0_px']},w={SIDE},h={SIDE}]"
        assert row["size_level0_px"] == str(SIDE)
    # The slides named in provenance do not exist here: hits.png still comes, with grey stand-ins.
    picture = np.asarray(Image.open(tmp_path / "hits" / "hits.png"))
    assert picture.shape[0] == 8 * (96 + 16 + 4) + 4 and (picture[4:100, 4:100] == 200).all()


def test_bad_inputs_are_one_line_errors(cohort, tmp_path):
    root, files, feats, coords, _ = cohort
    other = tmp_path / "other" / "features.h5"
    other.parent.mkdir()
    write_features_h5(other, feats[:50], {"encoder": "timm:resnet50", "dim": DIM}, coords=coords[:50])
    labelled = tmp_path / "labelled.h5"
    write_features_h5(labelled, feats[:50], {"encoder": "he-texture"}, paths=[f"t{i}.png" for i in range(50)], labels=["TUM"] * 50)
    (tmp_path / "empty").mkdir()
    cases = [
        ((files[0], other), "embedded with timm:resnet50"),
        ((files[0], labelled), "has no labels but other inputs do"),
        ((files[0], files[0]), "given twice"),
        ((tmp_path / "nope.h5",), "no such file"),
        ((tmp_path / "empty",), "no features.h5 inside"),
        ((files[0], "--index", "ivfpq", "--pq-m", "5"), "does not divide"),
        ((files[0], "--pca-dim", "99"), "--pca-dim 99 is impossible"),
    ]
    for args, needle in cases:
        out = tmp_path / "bank"
        assert_one_line_error(run_cli("bank", "build", *args, "-o", out), needle)
        assert not out.exists()
    with pytest.raises(PathsearchError, match="not a features.h5"):
        build_bank([tmp_path / "labelled.h5", root / "slide0" / "manifest.json"], tmp_path / "x")
