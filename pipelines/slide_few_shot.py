"""The demo's flow: a slide and a few QuPath annotations -> every tissue tile classified.

1. tile the slide (tiles.h5, tissue.geojson, QC thumbnail);
2. embed the tiles with the default encoder (features.h5);
3. few-shot classify them, with support tiles cut from the annotated regions, STHLM-pooled votes;
4. write the heatmap PNG and a QuPath GeoJSON of classified tiles, and print where they are.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pathsearch.api.classify import classify
from pathsearch.api.embed import embed
from pathsearch.api.tile import tile_slide
from pathsearch.config import load_tile_config
from pathsearch.errors import PathsearchError
from pathsearch.heads.classify import FewShotConfig
from pathsearch.sample_data import sample_slide

HERE = Path(__file__).resolve().parent
SAMPLE_SUPPORT = HERE / "data" / "CMU-1-Small-Region.support.geojson"


def run(slide: Path, support: Path, out: Path, config: Path | None, model: str, samples: int, tile_size: int) -> None:
    tile_config = load_tile_config(config, tile_size=tile_size)
    tiles = tile_slide(slide, tile_config, out / "tiles")
    print(f"1. tiles:      {tiles.out_dir / 'tiles.h5'} ({tiles.status}); QC picture {tiles.out_dir / 'thumbnail.png'}")
    features = embed(tiles.out_dir, out / "embeddings" / slide.stem, model=model)
    print(f"2. features:   {features}")
    result = classify(
        support, tiles.out_dir, out / "classify" / slide.stem, model, support_slide=slide, tile_config=tile_config,
        config=FewShotConfig(samples=samples),
    )
    print(f"3. classified: {result.tiles} tiles: " + ", ".join(f"{c} {r['tiles']}" for c, r in result.summary.items()))
    print(f"4. heatmap:    {result.files['heatmap']}")
    print(f"   QuPath:     {result.files['predictions_geojson']} (File > Import objects)")
    print(f"   table:      {result.files['predictions_csv']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--slide", type=Path, help="defaults to the CMU-1-Small-Region sample")
    parser.add_argument("--support", type=Path, default=SAMPLE_SUPPORT, help="QuPath GeoJSON of classified areas")
    parser.add_argument("--out", type=Path, default=Path("demo_out"))
    parser.add_argument("--config", type=Path, help="a wsi_configs/ preset")
    parser.add_argument("--model", default="he-texture")
    parser.add_argument("--samples", type=int, default=10, help="STHLM samples per tile; 0 = plain k-NN")
    parser.add_argument("--tile-size", type=int, default=112, help="tile side in px at 0.5 um/px")
    args = parser.parse_args()
    try:
        run(args.slide or sample_slide(), args.support, args.out, args.config, args.model, args.samples, args.tile_size)
    except PathsearchError as exc:
        sys.exit(f"error: {exc}")


if __name__ == "__main__":
    main()
