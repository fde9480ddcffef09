"""Provenance manifests: what ran, on what input, with which versions; used for resuming."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import platform
import time
from pathlib import Path
from typing import Any

_PACKAGES = (
    "pathsearch",
    "numpy",
    "openslide-python",
    "openslide-bin",
    "tifffile",
    "opencv-python-headless",
    "h5py",
    "torch",
    "timm",
    "open-clip-torch",
    "faiss-cpu",
    "dask",
    "distributed",
)
_FINGERPRINT_BYTES = 1 << 20


@functools.cache
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def file_fingerprint(path: Path) -> dict[str, Any]:
    """Size, mtime and a sha256 of the first and last MiB: cheap even for 5 GB slides."""
    stat = path.stat()
    digest = hashlib.sha256(str(stat.st_size).encode())
    with path.open("rb") as f:
        digest.update(f.read(_FINGERPRINT_BYTES))
        if stat.st_size > _FINGERPRINT_BYTES:
            f.seek(max(_FINGERPRINT_BYTES, stat.st_size - _FINGERPRINT_BYTES))
            digest.update(f.read(_FINGERPRINT_BYTES))
    return {
        "path": str(path.resolve()),
        "size_bytes": stat.st_size,
        "mtime": stat.st_mtime,
        "sha256_head_tail_1MiB": digest.hexdigest(),
    }


def new_manifest(command: str, params: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "command": command,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "params": params,
        "inputs": inputs,
        "versions": dict(package_versions()),
    }


def manifest_matches(path: Path, params: dict[str, Any], inputs: dict[str, Any]) -> bool:
    """A finished run with the same parameters on the same input bytes can be skipped."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return old.get("params") == params and old.get("inputs") == inputs
