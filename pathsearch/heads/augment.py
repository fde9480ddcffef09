"""Augmented views of support tiles (stain/colour jitter, flips, rotations, blur) with albumentations."""

from __future__ import annotations

import albumentations as A
import numpy as np


def view_transform(seed: int) -> A.Compose:
    """Changes an H&E pathologist would call the same tissue: scanner colour, orientation, focus."""
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.VerticalFlip(p=0.5),
            A.RandomRotate90(p=1.0),
            A.HueSaturationValue(hue_shift_limit=8, sat_shift_limit=20, val_shift_limit=10, p=0.8),
            A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5),
            A.GaussianBlur(blur_limit=(3, 5), p=0.3),
        ],
        seed=seed,
    )


def augmented_views(tiles: list[np.ndarray], per_tile: int, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
    """`per_tile` views of each tile, and for every view the index of the tile it came from."""
    transform = view_transform(seed)
    views = [transform(image=tile)["image"] for tile in tiles for _ in range(per_tile)]
    return views, np.repeat(np.arange(len(tiles)), per_tile)
