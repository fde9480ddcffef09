"""The CLI parses arguments before any heavy stack loads: `--help` and usage errors come back at once."""

import os
import subprocess
import sys

HEAVY = ("torch", "faiss", "cv2", "timm", "open_clip", "segmentation_models_pytorch", "sklearn")


def test_cli_parsing_loads_no_heavy_stack():
    code = (
        "import sys; import pathsearch.cli.main; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", f"imported at CLI start-up: {proc.stdout.strip()}"


def _openmp_env_after_import(env: dict[str, str]) -> tuple[str, str]:
    code = "import os, pathsearch; print(os.environ.get('OMP_WAIT_POLICY', '-'), os.environ.get('GOMP_SPINCOUNT', '-'))"
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env={**clean, **env})
    assert proc.returncode == 0, proc.stderr
    policy, spins = proc.stdout.split()
    return policy, spins


def test_openmp_threads_spin_briefly_unless_the_user_chose():
    """PASSIVE halved STHLM training throughput; the default spin starved faiss (BENCHMARKS.md, session 20)."""
    assert _openmp_env_after_import({}) == ("-", "10000")
    assert _openmp_env_after_import({"OMP_WAIT_POLICY": "PASSIVE"}) == ("PASSIVE", "-")
    assert _openmp_env_after_import({"GOMP_SPINCOUNT": "500"}) == ("-", "500")
