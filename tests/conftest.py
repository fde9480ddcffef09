from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.synthetic import tissue_image, write_generic_pyramid, write_svs

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PATHSEARCH_TEST_DATA", REPO.parent / "shared" / "data"))

# A 7x5-tile rectangle of tissue (224 px tiles at 0.5 um/px) with a 2x2-tile hole, grid-aligned.
TILE = 224
RECT = (2 * TILE, 3 * TILE, 7 * TILE, 5 * TILE)
HOLE = (4 * TILE, 4 * TILE, 2 * TILE, 2 * TILE)
SLIDE_W, SLIDE_H = 4096, 3072


def real_data(relative: str) -> Path:
    path = DATA / relative
    if not path.exists():
        pytest.skip(f"real test data {path} absent; set PATHSEARCH_TEST_DATA to ../shared/data")
    return path


@pytest.fixture(scope="session")
def tissue_img():
    return tissue_image(SLIDE_W, SLIDE_H, [RECT], [HOLE])


@pytest.fixture(scope="session")
def svs(tmp_path_factory, tissue_img) -> Path:
    return write_svs(tmp_path_factory.mktemp("svs") / "synthetic.svs", tissue_img)


@pytest.fixture(scope="session")
def pyramid(tmp_path_factory, tissue_img) -> Path:
    return write_generic_pyramid(tmp_path_factory.mktemp("tif") / "synthetic.tiff", tissue_img)


@pytest.fixture(scope="session")
def svs_no_mpp(tmp_path_factory, tissue_img) -> Path:
    return write_svs(tmp_path_factory.mktemp("nompp") / "nompp.svs", tissue_img, mpp=None)
