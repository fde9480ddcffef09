"""Embedding: real loading paths with random-weight checkpoints, the texture encoder, bad input."""

import multiprocessing
import os

import h5py
import numpy as np
import open_clip
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file

from pathsearch.api.embed import embed, embed_tiles
from pathsearch.api.tile import tile_slide
from pathsearch.config import TileConfig
from pathsearch.encoders.registry import build_encoder
from pathsearch.errors import PathsearchError
from pathsearch.io.features_h5 import read_features_h5
from pathsearch.io.tile_sources import open_tile_source
from tests.cli import assert_one_line_error, run_cli
from tests.conftest import real_data


@pytest.fixture
def tile_folder(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("TUM", "STR"):
        (tmp_path / "tiles" / label).mkdir(parents=True)
        for i in range(3):
            img = rng.integers(0, 255, (224, 224, 3), dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / "tiles" / label / f"{label}_{i}.png")
    return tmp_path / "tiles"


@pytest.fixture(scope="module")
def pathgen_checkpoint(tmp_path_factory):
    """A random ViT-B-16 saved the way PathGen-CLIP's open_clip training checkpoint is."""
    model, _, _ = open_clip.create_model_and_transforms("ViT-B-16", pretrained=None)
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    path = tmp_path_factory.mktemp("ckpt") / "pathgenclip.pt"
    torch.save({"epoch": 10, "name": "pathgen-clip", "state_dict": state}, path)
    return path, model.state_dict()


def test_pathgen_clip_loads_real_checkpoint_format(pathgen_checkpoint, tile_folder, tmp_path):
    path, reference = pathgen_checkpoint
    encoder = build_encoder("pathgen-clip", path)
    assert encoder.dim == 512
    loaded = encoder.model.state_dict()
    assert loaded.keys() == reference.keys()
    assert all(torch.equal(loaded[k], reference[k]) for k in reference)
    target = embed(tile_folder, tmp_path / "out", model="pathgen-clip", weights=path, batch_size=4)
    features = read_features_h5(target)
    assert features.features.shape == (6, 512)
    assert features.attrs["weights_file"] == "pathgenclip.pt" and len(features.attrs["weights_sha256"]) == 64
    assert encoder.encode_text(["tumour epithelium"]).shape == (1, 512)


def test_clip_batch_invariance(pathgen_checkpoint, tile_folder):
    encoder = build_encoder("pathgen-clip", pathgen_checkpoint[0])
    source = open_tile_source(tile_folder)
    together = embed_tiles(source, encoder, batch_size=6)
    alone = embed_tiles(source, encoder, batch_size=1)
    np.testing.assert_allclose(together, alone, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_timm_loads_safetensors_and_rejects_mismatch(tmp_path, tile_folder):
    model = timm.create_model("test_vit", pretrained=False, num_classes=0)
    save_file(model.state_dict(), tmp_path / "test_vit.safetensors")
    encoder = build_encoder("timm:test_vit", tmp_path / "test_vit.safetensors")
    assert all(
        torch.equal(a, b)
        for a, b in zip(encoder.model.state_dict().values(), model.state_dict().values(), strict=True)
    )
    assert embed_tiles(open_tile_source(tile_folder), encoder, batch_size=3).shape == (6, encoder.dim)
    other = timm.create_model("test_resnet", pretrained=False, num_classes=0)
    save_file(other.state_dict(), tmp_path / "resnet.safetensors")
    with pytest.raises(
        PathsearchError, match="does not match architecture test_vit.*(missing|unexpected) keys"
    ):
        build_encoder("timm:test_vit", tmp_path / "resnet.safetensors")
    with pytest.raises(PathsearchError, match="needs --weights"):
        build_encoder("timm:test_vit")


def test_texture_encoder_batch_invariant_and_deterministic(tile_folder):
    encoder = build_encoder("he-texture")
    source = open_tile_source(tile_folder)
    a = embed_tiles(source, encoder, batch_size=4)
    b = embed_tiles(source, encoder, batch_size=1)
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert a.shape == (6, encoder.dim) and np.allclose(np.linalg.norm(a, axis=1), 1.0)


def test_slide_tiles_keep_coords(svs, tmp_path):
    result = tile_slide(svs, TileConfig(), tmp_path / "tiles")
    target = embed(result.out_dir, tmp_path / "emb", batch_size=8)
    with h5py.File(target) as f, h5py.File(result.out_dir / "tiles.h5") as t:
        np.testing.assert_array_equal(f["coords"][:], t["coords"][:])
        assert f["features"].shape == (31, f.attrs["dim"])
        assert f["coords"].attrs["patch_size"] == 224


def test_a_forked_loader_worker_opens_its_own_slide(svs, tmp_path):
    """A handle inherited over fork shares its file offset with the parent's, so the worker must not use it."""
    source = open_tile_source(tile_slide(svs, TileConfig(), tmp_path / "tiles").out_dir)
    inherited = source.read_unit(0) and source._open()

    def worker() -> None:
        os._exit(0 if source._open() is not inherited and len(source.read_unit(0)) else 1)

    process = multiprocessing.get_context("fork").Process(target=worker)
    process.start()
    process.join()
    assert process.exitcode == 0 and source._open() is inherited


def test_loader_workers_after_a_read_in_this_process_on_a_real_slide(tmp_path):
    """The symptom on CMU-1-Small-Region: after one read here, two workers on the inherited handle
    failed with 'Not a JPEG file' (tifffile decoding blocks for OpenSlide)."""
    slide = real_data("slides/CMU-1-Small-Region.svs")
    source = open_tile_source(tile_slide(slide, TileConfig(), tmp_path / "tiles").out_dir)
    source.read_unit(0)
    encoder = build_encoder("he-texture")
    expected = embed_tiles(source, encoder, 16, workers=0)
    for _ in range(2):
        np.testing.assert_array_equal(embed_tiles(source, encoder, 16, workers=2), expected)

def test_texture_encoder_on_real_crc_tiles(tmp_path):
    """Leave-one-out cosine 1-NN on 32 real CRC tiles; plain mean RGB scores 0.50 here."""
    folder = real_data("tiles/crc-he")
    features = read_features_h5(embed(folder, tmp_path))
    labels = np.array(features.labels)
    sims = features.features @ features.features.T
    np.fill_diagonal(sims, -np.inf)
    accuracy = (labels[sims.argmax(1)] == labels).mean()
    assert accuracy >= 0.78, accuracy  # 25/32, measured with the shipped standardisation


def _cli(*args):
    return run_cli("embed", *args)


def _assert_clean_failure(proc, needle, out):
    assert proc.returncode == 1, proc.stderr
    assert_one_line_error(proc, needle)
    assert not (out / "features.h5").exists()


def test_cli_bad_inputs(tmp_path, tile_folder):
    out = tmp_path / "out"
    (tmp_path / "empty").mkdir()
    _assert_clean_failure(_cli(tmp_path / "empty", "-o", out), "no tile images", out)
    _assert_clean_failure(_cli(tile_folder, "-o", out, "--model", "nope"), "known: he-texture", out)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    _assert_clean_failure(
        _cli(tile_folder, "-o", out, "--model", "pathgen-clip", "--weights", bad),
        "not a readable checkpoint",
        out,
    )
    (tile_folder / "TUM" / "broken.png").write_bytes(b"\x89PNG garbage")
    _assert_clean_failure(_cli(tile_folder, "-o", out, "--loader-workers", "0"), "unreadable image", out)
