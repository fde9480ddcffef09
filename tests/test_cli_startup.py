"""The CLI parses arguments before any heavy stack loads: `--help` and usage errors come back at once."""

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
