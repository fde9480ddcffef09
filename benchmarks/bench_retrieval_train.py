"""`eval retrieval` on a SciFact dev split: the old training settings against the new, in the same run.

Old: the general learning rate (2e-3) and a 1,000-epoch dev part, the command's defaults before session
17. New: the command's defaults now (`retrieval_train_config`, LONG_EPOCHS). Both run on today's code,
so the fused optimiser, which speeds both, is not counted in the ratio. Needs the real SciFact data
(PATHSEARCH_TEST_DATA, default ../shared/data).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pathsearch.api.retrieval import evaluate_retrieval, retrieval_train_config
from pathsearch.choices import LONG_EPOCHS
from pathsearch.sthlm.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0, help="dev split seed")
    args = parser.parse_args()
    scifact = Path(os.environ.get("PATHSEARCH_TEST_DATA", REPO.parent / "shared" / "data")) / "retrieval" / "scifact"
    if not scifact.is_dir():
        sys.exit(f"{scifact} absent: set PATHSEARCH_TEST_DATA to the shared data folder")
    dev = Path(tempfile.mkdtemp()) / "scifact-dev"
    split = [sys.executable, str(REPO / "pipelines" / "retrieval_dev_split.py"), str(scifact), "--out", str(dev)]
    subprocess.run([*split, "--seed", str(args.seed)], check=True, capture_output=True)
    runs = {"old: lr 2e-3, 1,000 epochs": (TrainConfig(), 1000), f"new: defaults, {LONG_EPOCHS} epochs": (retrieval_train_config(), LONG_EPOCHS)}
    rows = []
    for name, (config, epochs) in runs.items():
        t0 = time.perf_counter()
        result = evaluate_retrieval(dev, "dev-test", "dev-train", samples=(0,), train_config=config, longest_epochs=epochs)
        seconds = time.perf_counter() - t0
        rows.append((name, seconds, result["sthlm"]["ndcg@10"], result["control"]["ndcg@10"], result["breakdown"]["unseen"]))
        print(f"{name}: {seconds:.0f} s", file=sys.stderr, flush=True)
    old_s = rows[0][1]
    print(f"SciFact dev split {args.seed}, 202 held-out claims; baseline {result['baseline']['ndcg@10']:.4f}")
    print("| settings | s | speed-up | STHLM NDCG@10 | control NDCG@10 | unseen: STHLM - baseline |")
    print("|---|---|---|---|---|---|")
    for name, seconds, sthlm, control, unseen in rows:
        print(f"| {name} | {seconds:.0f} | {old_s / seconds:.2f}x | {sthlm:.4f} | {control:.4f} | {unseen['sthlm'] - unseen['baseline']:+.4f} |")


if __name__ == "__main__":
    main()
