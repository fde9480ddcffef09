"""Refit he-texture's fixed standardisation from a folder of H&E tiles (class subfolders or flat).

The shipped statistics come from NCT-CRC-HE-100K samples (../shared/data/tiles/nct-crc-he-samples),
a different cohort from the CRC-VAL-HE-7K tiles the encoder is evaluated on.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image

from pathsearch.encoders.texture import texture_features

_EXTS = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tiles", type=Path)
    parser.add_argument("--out", type=Path, default=Path("pathsearch/encoders/he_texture_stats.json"))
    args = parser.parse_args()
    files = sorted(p for p in args.tiles.rglob("*") if p.suffix.lower() in _EXTS)
    raw = np.stack([texture_features(np.asarray(Image.open(p).convert("RGB"))) for p in files])
    stats = {
        "source": f"{args.tiles.name}: {len(files)} tiles",
        "mean": raw.mean(0).round(6).tolist(),
        "std": np.maximum(raw.std(0), 1e-6).round(6).tolist(),
    }
    args.out.write_text(json.dumps(stats) + "\n")
    print(f"wrote {args.out} from {len(files)} tiles, dim {raw.shape[1]}")


if __name__ == "__main__":
    main()
