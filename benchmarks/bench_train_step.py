"""One STHLM training step (batch 256, 384-d, the default net): the OpenMP wait setting, the one-sample
contraction against per-row factors, and the control at the origin, in the same run.

Each setting runs in its own process, since libgomp reads its wait settings once, when it loads; the
package is imported first, as the command line does. Medians of 5 blocks of 30 steps after 10 warm-up
steps.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {
    "OMP_WAIT_POLICY=PASSIVE (sessions 4-19)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=10000 (the package default now)": {},
    "libgomp default spin (300,000)": {"GOMP_SPINCOUNT": "300000"},
}


def measure(dim: int, batch: int) -> dict[str, float]:
    import pathsearch  # noqa: F401  (sets the OpenMP wait before torch loads)
    import torch

    from pathsearch.sthlm.model import new_model
    from pathsearch.sthlm.train import TrainConfig, _draws, _loss

    config = TrainConfig()
    c = torch.nn.functional.normalize(torch.randn(batch, dim), dim=1)
    x = torch.nn.functional.normalize(torch.randn(batch, dim), dim=1)
    out = {}
    for name, kind, factors in (("flow, per-row factors", "flow", True), ("flow", "flow", False), ("control", "control", False)):
        model = new_model(dim, dim, kind, config.residual, config.noise_scale, config.predict)
        net = model.net.train()
        optim = torch.optim.AdamW(net.parameters(), lr=config.lr, fused=True)
        gen = torch.Generator().manual_seed(0)

        def step() -> None:
            c_, drop, yt, t, target = _draws(model, c, x, config, gen, training=True)
            if factors:  # the sampling path, read with one sample per condition
                cond_h, cond_x = net.condition(c_, drop)
                pred = net.velocity(yt[:, None, :], cond_x, net.layer_factors(cond_h, t))[:, 0]
                loss = torch.nn.functional.mse_loss(pred, target)
            else:
                loss = _loss(model, c_, drop, yt, t, target)
            optim.zero_grad(set_to_none=True)
            loss.backward()
            optim.step()

        for _ in range(10):
            step()
        blocks = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(30):
                step()
            blocks.append((time.perf_counter() - start) / 30 * 1000)
        out[name] = statistics.median(blocks)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(measure(args.dim, args.batch)))
        return
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    rows = {}
    for name, env in SETTINGS.items():
        cmd = [sys.executable, __file__, "--worker", "--dim", str(args.dim), "--batch", str(args.batch)]
        done = subprocess.run(cmd, env={**base, **env}, check=True, capture_output=True, text=True)
        rows[name] = json.loads(done.stdout.strip().splitlines()[-1])
    floor = rows["OMP_WAIT_POLICY=PASSIVE (sessions 4-19)"]["flow, per-row factors"]
    print(f"ms per training step, batch {args.batch}, {args.dim}-d; speed-up against PASSIVE with per-row factors")
    print("| OpenMP wait | flow, per-row factors | flow | control |")
    print("|---|---|---|---|")
    for name, ms in rows.items():
        cells = " | ".join(f"{v:.1f} ({floor / v:.2f}x)" for v in ms.values())
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
