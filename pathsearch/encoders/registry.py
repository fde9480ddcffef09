"""Encoder names -> encoders. `pathsearch embed --model NAME` resolves here."""

from __future__ import annotations

import os
from pathlib import Path

from pathsearch.encoders.base import Encoder
from pathsearch.errors import PathsearchError

# name -> (open_clip architecture, Hugging Face repo, file in that repo)
PATHGEN = {
    "pathgen-clip": ("ViT-B-16", "jamessyx/PathGen-CLIP", "pathgenclip.pt"),
    "pathgen-clip-l": ("ViT-L-14-336", "jamessyx/PathGen-CLIP-L", "pathgen-clip-l.pt"),
}
KNOWN = ["he-texture", *PATHGEN, "open_clip:ARCH", "timm:NAME"]


def _pathgen_weights(name: str, weights: Path | None) -> Path:
    if weights is not None:
        return weights
    _, repo, filename = PATHGEN[name]
    hint = (
        f"{name} needs its weights: download {filename} from https://huggingface.co/{repo} "
        "and pass --weights PATH"
    )
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise PathsearchError(hint)
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo, filename))
    except Exception as exc:  # noqa: BLE001 - offline, gated or renamed: all end in the same advice
        raise PathsearchError(f"{hint} (hub download failed: {type(exc).__name__})") from exc


def build_encoder(name: str, weights: Path | str | None = None) -> Encoder:
    weights = Path(weights) if weights is not None else None
    if name == "he-texture":
        if weights is not None:
            raise PathsearchError("he-texture has no weights; drop --weights")
        from pathsearch.encoders.he_texture import HETextureEncoder

        return HETextureEncoder()
    if name in PATHGEN:
        from pathsearch.encoders.torch_models import OpenClipEncoder

        return OpenClipEncoder(name, PATHGEN[name][0], _pathgen_weights(name, weights))
    if name.startswith("open_clip:"):
        from pathsearch.encoders.torch_models import OpenClipEncoder

        arch = name.split(":", 1)[1]
        import open_clip

        if arch not in open_clip.list_models():
            raise PathsearchError(f"open_clip has no architecture {arch!r}; see open_clip.list_models()")
        if weights is None:
            raise PathsearchError(f"{name} needs --weights PATH; random weights are never used silently")
        return OpenClipEncoder(name, arch, weights)
    if name.startswith("timm:"):
        from pathsearch.encoders.torch_models import TimmEncoder

        return TimmEncoder(name, name.split(":", 1)[1], weights)
    raise PathsearchError(f"unknown model {name!r}; known: {', '.join(KNOWN)}")
