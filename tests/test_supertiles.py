"""Block reads give exactly the pixels of one read_region per tile, every tile once, in bounded blocks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pathsearch.api.embed import embed_tiles
from pathsearch.encoders.registry import build_encoder
from pathsearch.io.tile_sources import SlideTiles
from pathsearch.slide.open import open_slide
from pathsearch.slide.supertiles import plan_reads, read_group
from pathsearch.slide.tifffile_backend import TiffFileSlide
from pathsearch.slide.tiling import grid_coords, read_tile
from tests.synthetic import write_svs

W, H = 2048, 1536


@pytest.fixture(scope="module")
def textured_svs(tmp_path_factory) -> object:
    """Every pixel differs from its neighbours, so a tile read one pixel off cannot pass."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    return write_svs(tmp_path_factory.mktemp("supertiles") / "textured.svs", img, thumbnail=True)


def _all_reads(slide, reads) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for g in range(len(reads.groups)):
        for i, tile in read_group(slide, reads, g):
            assert i not in out
            out[i] = tile
    return out


@pytest.mark.parametrize(
    ("level", "read_size", "patch_size", "step"),
    [(0, 224, 224, 224), (0, 448, 224, 400), (1, 56, 32, 224), (1, 100, 64, 400)],
)
def test_block_reads_equal_tile_reads(textured_svs, level, read_size, patch_size, step):
    with open_slide(textured_svs) as slide:
        ds = int(slide.level_downsamples[level])
        coords = grid_coords(W, H, read_size * ds, step)
        reads = plan_reads(slide, coords, level, read_size, patch_size, block_px=300)
        assert sum(box is not None for box in reads.boxes) >= 2  # several blocks, really read as blocks
        tiles = _all_reads(slide, reads)
        assert sorted(tiles) == list(range(len(coords)))
        for i, (x, y) in enumerate(coords):
            np.testing.assert_array_equal(tiles[i], read_tile(slide, (int(x), int(y)), level, read_size, patch_size))


def test_blocks_in_raster_order_and_bounded(textured_svs):
    with open_slide(textured_svs) as slide:
        coords = grid_coords(W, H, 224, 224)
        reads = plan_reads(slide, coords, 0, 224, 224, block_px=512)
        starts = [tuple(coords[g[0]][::-1]) for g in reads.groups]  # (y, x) of each block's first tile
        assert starts == sorted(starts)
        assert all(box[2] <= 512 + 224 and box[3] <= 512 + 224 for box in reads.boxes if box is not None)


def test_off_grid_and_sparse_tiles_are_read_one_by_one(textured_svs):
    with open_slide(textured_svs) as slide:
        off_grid = np.array([[2, 0], [58, 0]])  # level 1 has downsample 4: x=2 is between its pixels
        reads = plan_reads(slide, off_grid, 1, 56, 56)
        assert reads.boxes == [None, None]
        sparse = np.array([[0, 0], [1700, 1200]])  # two tiles at a block's far corners
        reads = plan_reads(slide, sparse, 0, 224, 224)
        assert reads.boxes == [None] and _all_reads(slide, reads)[1].shape == (224, 224, 3)


def test_slide_tiles_embed_the_same_in_any_worker_count(textured_svs):
    coords = grid_coords(W, H, 224, 224)
    attrs = {"read_level": 0, "read_size": 224, "patch_size": 224}
    source = SlideTiles(textured_svs, coords, attrs)
    encoder = build_encoder("he-texture")
    serial = embed_tiles(source, encoder, batch_size=16)
    with open_slide(textured_svs) as slide:
        expected = encoder.encode_images(
            torch.stack([encoder.preprocess(read_tile(slide, (int(x), int(y)), 0, 224, 224)) for x, y in coords[:5]])
        )
    np.testing.assert_allclose(serial[:5], expected, atol=1e-6)
    np.testing.assert_allclose(embed_tiles(source, encoder, batch_size=7, workers=2), serial, atol=1e-6)


def test_svs_blocks_come_through_tifffile_only_where_it_agrees(textured_svs, monkeypatch):
    real = TiffFileSlide.read_region
    calls: list[int] = []

    def spy(self, location, level, size):
        calls.append(level)
        return real(self, location, level, size)

    monkeypatch.setattr(TiffFileSlide, "read_region", spy)
    with open_slide(textured_svs) as slide:
        assert slide.backend == "openslide"
        for level, ds in ((0, 1), (1, 4)):
            block = slide.read_block((100 * ds, 60 * ds), level, (300, 200))
            np.testing.assert_array_equal(block, slide.read_region((100 * ds, 60 * ds), level, (300, 200)))
    assert calls == [0, 0, 1, 1]  # each level: the check, then the block itself
    # A decoder that disagrees with OpenSlide is never used: the check at a level's first block catches it.
    monkeypatch.setattr(TiffFileSlide, "read_region", lambda self, *a: real(self, *a) // 2)
    with open_slide(textured_svs) as slide:
        expected = slide.read_region((0, 0), 0, (300, 200))
        np.testing.assert_array_equal(slide.read_block((0, 0), 0, (300, 200)), expected)
