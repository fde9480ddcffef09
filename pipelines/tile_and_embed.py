"""The demo's flow so far: sample slide -> tissue tiles -> he-texture embeddings.

Writes OUT/<slide>/{tiles.h5, tissue.geojson, thumbnail.png, manifest.json} and
OUT/embeddings/<slide>/features.h5, and prints where the pictures are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pathsearch.api.embed import embed
from pathsearch.api.tile import tile_slide
from pathsearch.config import load_tile_config
from pathsearch.errors import PathsearchError
from pathsearch.sample_data import sample_slide


def run(slide: Path, out: Path, config: Path | None, model: str) -> None:
    result = tile_slide(slide, load_tile_config(config), out)
    print(f"tiles:      {result.out_dir / 'tiles.h5'} ({result.status})")
    print(f"QC picture: {result.out_dir / 'thumbnail.png'}")
    print(f"tissue:     {result.out_dir / 'tissue.geojson'} (File > Import objects in QuPath)")
    features = embed(result.out_dir, out / "embeddings" / result.out_dir.name, model=model, workers=0)
    print(f"features:   {features}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--slide", type=Path, help="defaults to the CMU-1-Small-Region sample")
    parser.add_argument("--out", type=Path, default=Path("demo_out"))
    parser.add_argument("--config", type=Path, help="a wsi_configs/ preset")
    parser.add_argument("--model", default="he-texture")
    args = parser.parse_args()
    try:
        run(args.slide or sample_slide(), args.out, args.config, args.model)
    except PathsearchError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
