"""QuPath's tile-export file names, `STEM [d=D,x=X,y=Y,w=W,h=H].ext`, written and parsed."""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME_RE = re.compile(r"^(?P<stem>.*?)\s*\[(?P<fields>[^\[\]]*)\](?P<suffix>[^\[\]]*)$")
_FIELD_RE = re.compile(r"^\s*([dxywh])\s*=\s*([-+0-9.eE]+)\s*$")


@dataclass(frozen=True)
class TileName:
    """A tile's level-0 box; `downsample` is None when QuPath omitted `d` (full resolution)."""

    stem: str
    x: int
    y: int
    w: int
    h: int
    downsample: float | None = None
    suffix: str = ""


def _fmt_downsample(d: float) -> str:
    return str(int(d)) if float(d).is_integer() else f"{d:.4f}".rstrip("0")


def format_tile_name(tile: TileName, ext: str) -> str:
    fields = [f"x={tile.x}", f"y={tile.y}", f"w={tile.w}", f"h={tile.h}"]
    if tile.downsample is not None:
        fields.insert(0, f"d={_fmt_downsample(tile.downsample)}")
    return f"{tile.stem} [{','.join(fields)}]{tile.suffix}.{ext.lstrip('.')}"


def parse_tile_name(filename: str) -> TileName | None:
    """Parse a QuPath export name (extension already stripped or not); None if it is not one."""
    base = filename.rsplit("/", 1)[-1]
    if "." in base.rsplit("]", 1)[-1]:
        base = base[: base.rfind(".")]
    match = _NAME_RE.match(base)
    if not match:
        return None
    values: dict[str, float] = {}
    for part in match.group("fields").split(","):
        field = _FIELD_RE.match(part)
        if not field:
            return None
        values[field.group(1)] = float(field.group(2))
    if not {"x", "y", "w", "h"} <= values.keys():
        return None
    return TileName(
        stem=match.group("stem"),
        x=int(values["x"]),
        y=int(values["y"]),
        w=int(values["w"]),
        h=int(values["h"]),
        downsample=values.get("d"),
        suffix=match.group("suffix"),
    )
