"""Pairing QuPath export images with their label images, for every way QuPath names them."""

from __future__ import annotations

import numpy as np
from PIL import Image

from pathsearch.io.exports import export_items


def _save(path, mode):
    shape = (8, 8, 3) if mode == "RGB" else (8, 8)
    Image.fromarray(np.zeros(shape, np.uint8)).convert(mode).save(path)


def test_label_images_by_id_by_extension_and_custom_id(tmp_path):
    _save(tmp_path / "a [x=0,y=0,w=8,h=8].jpg", "RGB")
    _save(tmp_path / "a [x=0,y=0,w=8,h=8].png", "L")  # labeledImageExtension(".png"), no id
    _save(tmp_path / "b.png", "RGB")
    _save(tmp_path / "b-labelled.png", "L")  # QuPath's default id
    _save(tmp_path / "c.tif", "RGB")
    _save(tmp_path / "c-mask.png", "P")  # a custom id
    _save(tmp_path / "d.jpg", "RGB")
    _save(tmp_path / "d.png", "RGB")  # two RGB files: both are images, neither is a label image
    files = list(tmp_path.iterdir())

    pairs = {i.image.name: i.mask.name if i.mask else None for i in export_items(files)}
    assert pairs == {
        "a [x=0,y=0,w=8,h=8].jpg": "a [x=0,y=0,w=8,h=8].png",
        "b.png": "b-labelled.png",
        "c-mask.png": None,
        "c.tif": None,
        "d.jpg": None,
        "d.png": None,
    }
    pairs = {i.image.name: i.mask.name if i.mask else None for i in export_items(files, "-mask")}
    assert pairs["c.tif"] == "c-mask.png" and "c-mask.png" not in pairs
    assert pairs["b-labelled.png"] is None  # with another id, the default one is just an image
