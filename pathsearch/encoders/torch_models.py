"""Foundation models through open_clip (PathGen-CLIP and any CLIP) and timm."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import open_clip
import timm
import torch
from PIL import Image

from pathsearch.encoders.base import Encoder
from pathsearch.encoders.weights import load_into
from pathsearch.errors import PathsearchError


class _TorchEncoder(Encoder):
    """Shared by open_clip and timm: a module plus a PIL transform."""

    precision = "bf16"

    def __init__(
        self, name: str, model: torch.nn.Module, transform: Callable, dim: int, weights: Path | None
    ) -> None:
        self.name = name
        self.model = model.eval()
        self.transform = transform
        self.dim = dim
        self.weights = weights

    @property
    def transform_description(self) -> str:
        return " ".join(repr(self.transform).split())

    def preprocess(self, rgb: np.ndarray) -> torch.Tensor:
        return self.transform(Image.fromarray(rgb))

    def to(self, device: str) -> Encoder:
        self.model.to(device)
        return self


class OpenClipEncoder(_TorchEncoder):
    def __init__(self, name: str, arch: str, weights: Path | None) -> None:
        logging.disable(logging.WARNING)  # open_clip warns about random init; weights follow below
        try:
            model, _, transform = open_clip.create_model_and_transforms(arch, pretrained=None)
        finally:
            logging.disable(logging.NOTSET)
        if weights is not None:
            load_into(model, weights, arch)
        super().__init__(name, model, transform, int(model.visual.output_dim), weights)
        self.tokenizer = open_clip.get_tokenizer(arch)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(batch)

    @torch.inference_mode()
    def encode_text(self, texts: list[str]) -> np.ndarray:
        tokens = self.tokenizer(texts).to(next(self.model.parameters()).device)
        out = torch.nn.functional.normalize(self.model.encode_text(tokens).float(), dim=-1)
        return out.cpu().numpy()


class TimmEncoder(_TorchEncoder):
    def __init__(self, name: str, arch: str, weights: Path | None) -> None:
        online = arch.startswith("hf-hub:")
        try:
            model = timm.create_model(arch, pretrained=online, num_classes=0)
        except RuntimeError as exc:
            raise PathsearchError(f"timm has no model {arch!r} ({exc}); see timm.list_models()") from exc
        if weights is not None:
            load_into(model, weights, arch)
        elif not online:
            raise PathsearchError(
                f"timm:{arch} needs --weights PATH (safetensors or torch state dict); "
                "random weights are never used silently"
            )
        config = timm.data.resolve_data_config({}, model=model)
        super().__init__(name, model, timm.data.create_transform(**config), int(model.num_features), weights)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)
