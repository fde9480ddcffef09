"""safetensors weights plus a JSON config: loadable without pickle."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file, save_file

from pathsearch.errors import PathsearchError
from pathsearch.io.atomic import atomic_dir
from pathsearch.io.manifest import package_versions
from pathsearch.sthlm.model import STHLMModel
from pathsearch.sthlm.velocity import NetConfig, VelocityNet


def save_model(model: STHLMModel, folder: Path | str) -> Path:
    folder = Path(folder)
    with atomic_dir(folder) as tmp:
        save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, str(tmp / "model.safetensors"))
        config = {**model.config, "versions": package_versions()}
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return folder


def load_model(folder: Path | str) -> STHLMModel:
    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "model.safetensors").is_file():
        raise PathsearchError(f"{folder} is not an STHLM checkpoint (needs config.json and model.safetensors)")
    config = json.loads((folder / "config.json").read_text())
    net = VelocityNet(NetConfig(**config["net"]))
    net.load_state_dict(load_file(str(folder / "model.safetensors")))
    # Checkpoints from before `predict` existed are velocity models.
    return STHLMModel(net, config["kind"], config["residual"], config["noise_scale"], config.get("predict", "velocity"))
