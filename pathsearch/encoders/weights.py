"""Loading checkpoints safely (safetensors or weights_only torch files) with clear failures."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from pathsearch.errors import PathsearchError


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A plain state dict from .safetensors or a torch checkpoint, unwrapping common nestings."""
    if not path.is_file():
        raise PathsearchError(f"weights file {path} not found; check --weights")
    try:
        if path.suffix == ".safetensors":
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch/safetensors raise many types for bad files
        raise PathsearchError(
            f"{path.name}: not a readable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
            "the download may be incomplete, fetch it again"
        ) from exc
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise PathsearchError(f"{path.name}: checkpoint holds {type(state).__name__}, not a state dict")
    if state and all(k.startswith("module.") for k in state):
        state = {k.removeprefix("module."): v for k, v in state.items()}
    return state


def check_keys(missing: list[str], unexpected: list[str], path: Path, arch: str) -> None:
    if not missing and not unexpected:
        return

    def show(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")

    parts = []
    if missing:
        parts.append(f"missing keys: {show(missing)}")
    if unexpected:
        parts.append(f"unexpected keys: {show(unexpected)}")
    raise PathsearchError(
        f"{path.name} does not match architecture {arch} ({'; '.join(parts)}); pass weights made for {arch}"
    )


def load_into(model: torch.nn.Module, path: Path, arch: str) -> None:
    state = read_state_dict(path)
    own = model.state_dict()
    shape_mismatch = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if shape_mismatch:
        raise PathsearchError(
            f"{path.name} does not match architecture {arch} (shape differs for {', '.join(shape_mismatch[:3])})"
        )
    result = model.load_state_dict(state, strict=False)
    check_keys(list(result.missing_keys), list(result.unexpected_keys), path, arch)
