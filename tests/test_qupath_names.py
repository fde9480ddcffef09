from pathsearch.io.qupath import TileName, format_tile_name, parse_tile_name


def test_round_trip_with_downsample():
    tile = TileName("CMU-1 slide", 448, 672, 224, 224, 1.0)
    name = format_tile_name(tile, "png")
    assert name == "CMU-1 slide [d=1,x=448,y=672,w=224,h=224].png"
    assert parse_tile_name(name) == tile


def test_parse_qupath_export_without_d_and_labelled_suffix():
    parsed = parse_tile_name("glas_testA_25 [x=0,y=0,w=775,h=522]-labelled.png")
    assert parsed == TileName("glas_testA_25", 0, 0, 775, 522, None, "-labelled")


def test_fractional_downsample_and_non_tile_name():
    tile = TileName("s", 10, 20, 449, 449, 2.0045)
    assert parse_tile_name(format_tile_name(tile, "jpg")) == tile
    assert parse_tile_name("plain_image.png") is None
    assert parse_tile_name("bad [x=1,y=2].png") is None
