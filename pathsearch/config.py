"""Validated job parameters; YAML presets in wsi_configs/ load into these, unknown keys fail."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pathsearch.choices import TissueMethod
from pathsearch.errors import PathsearchError
from pathsearch.slide.mpp import magnification_to_mpp


class TileConfig(BaseModel):
    """Everything that decides which tiles a slide yields; the manifest records all of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target_mpp: float | None = Field(None, gt=0, description="um/px of the output tiles")
    magnification: float | None = Field(None, gt=0, description="alternative to target_mpp")
    tile_size: int = Field(224, gt=0, description="output tile side in px at target_mpp")
    overlap: int = Field(0, ge=0, description="px shared by neighbouring tiles, at target_mpp")
    min_tissue: float = Field(0.5, ge=0, le=1, description="minimum tissue fraction per tile")
    tissue: TissueMethod = "otsu"
    tissue_threshold: float = Field(20.0, ge=0, le=255, description="floor/threshold, 0-255")
    mask_mpp: float = Field(8.0, gt=0, description="um/px of the tissue-detection thumbnail")
    min_tissue_area_um2: float = Field(10_000.0, ge=0)
    min_hole_area_um2: float = Field(5_000.0, ge=0)
    level_tolerance: float = Field(0.05, ge=0, lt=1, description="relative, for level choice")
    slide_mpp: float | None = Field(None, gt=0, description="override the slide's own mpp")
    save_tiles: Literal["png", "jpg"] | None = None
    jpeg_quality: int = Field(90, ge=1, le=100)

    @model_validator(mode="after")
    def _one_resolution(self) -> TileConfig:
        if self.target_mpp is not None and self.magnification is not None:
            raise ValueError("give target_mpp or magnification, not both")
        if self.overlap >= self.tile_size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than tile_size")
        return self

    @property
    def resolved_target_mpp(self) -> float:
        if self.magnification is not None:
            return magnification_to_mpp(self.magnification)
        return 0.5 if self.target_mpp is None else self.target_mpp

    def grid_params(self) -> dict[str, object]:
        """The parameters that decide tile coordinates (jpeg_quality etc. do not)."""
        return self.model_dump(mode="json")


def _one_line(exc: ValidationError, source: str) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{loc}: {msg}")
    return f"{source}: " + "; ".join(parts)


def load_tile_config(path: Path | str | None = None, **overrides: object) -> TileConfig:
    """YAML preset (if any) with explicit overrides on top; None overrides mean 'not given'."""
    data: dict[str, object] = {}
    source = "options"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise PathsearchError(f"{path}: config file not found; see wsi_configs/ for presets")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise PathsearchError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
        if not isinstance(loaded, dict):
            raise PathsearchError(f"{path}: expected a mapping of tiling options")
        data.update(loaded)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "magnification" in given:
        data.pop("target_mpp", None)
    if "target_mpp" in given:
        data.pop("magnification", None)
    data.update(given)
    try:
        return TileConfig(**data)
    except ValidationError as exc:
        raise PathsearchError(_one_line(exc, source)) from exc
