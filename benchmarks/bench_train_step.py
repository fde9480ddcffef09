"""One STHLM training step (batch 256, 384-d, the default net) under each OpenMP wait setting, with the
one-sample contraction against per-row factors and the control at the origin; and, under the same
settings, the single-query search latency the wait setting was first chosen for (100k-vector bank).

Each setting runs in its own process, since libgomp reads its wait settings once, when it loads; the
package is imported first, as the command line does. Steps: medians of 5 blocks of 30 after 10 warm-up
steps. Latency: median over 20 single queries.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from timing import median_s

import pathsearch  # noqa: F401  (first, as on the command line: it sets the OpenMP wait before torch loads)

if TYPE_CHECKING:
    from pathsearch.sthlm.model import ModelKind, STHLMModel

SETTINGS = {
    "OMP_WAIT_POLICY=PASSIVE (sessions 4-19)": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=10000 (the package default now)": {},
    "libgomp default spin (300,000)": {"GOMP_SPINCOUNT": "300000"},
}


def measure(dim: int, batch: int) -> dict[str, float]:
    from pathsearch.sthlm.model import new_model
    from pathsearch.sthlm.train import TrainConfig

    out = {
        "flow, per-row factors": step_ms("flow", True, dim, batch),
        "flow": step_ms("flow", False, dim, batch),
        "control": step_ms("control", False, dim, batch),
    }
    config = TrainConfig()
    out.update(search_latency(new_model(dim, dim, "flow", config.residual, config.noise_scale, config.predict), dim))
    return out


def step_ms(kind: ModelKind, factors: bool, dim: int, batch: int) -> float:
    """`factors`: the flow through the sampling path's per-row factors, read with one sample each."""
    import torch

    from pathsearch.sthlm.model import new_model
    from pathsearch.sthlm.train import TrainConfig, _draws, _loss

    config = TrainConfig()
    c = torch.nn.functional.normalize(torch.randn(batch, dim), dim=1)
    x = torch.nn.functional.normalize(torch.randn(batch, dim), dim=1)
    model = new_model(dim, dim, kind, config.residual, config.noise_scale, config.predict)
    net = model.net.train()
    optim = torch.optim.AdamW(net.parameters(), lr=config.lr, fused=True)
    gen = torch.Generator().manual_seed(0)

    def step() -> None:
        c_, drop, yt, t, target = _draws(model, c, x, config, gen, training=True)
        if factors and yt is not None:
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
    return median_s(lambda: [step() for _ in range(30)], 5) * 1000 / 30


def search_latency(model: STHLMModel, dim: int) -> dict[str, float]:
    """Sampling cost does not depend on training: fresh weights."""
    import numpy as np

    from pathsearch.bank import BankConfig, ReferenceBank
    from pathsearch.sthlm.search import GenerativeSearch

    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(100_000, dim)).astype(np.float32)
    queries = rng.normal(size=(20, dim)).astype(np.float32)
    out = {}
    for kind in ("flat", "ivf"):
        bank = ReferenceBank.build(corpus, [str(i) for i in range(len(corpus))], config=BankConfig(index=kind))
        search, projected = GenerativeSearch(bank, model), bank.project(queries)
        for n in (0, 10):
            search.search(projected[:1], n, 100)
            times = []
            for i in range(len(projected)):
                start = time.perf_counter()
                search.search(projected[i : i + 1], n, 100)
                times.append((time.perf_counter() - start) * 1000)
            out[f"{kind} N={n} single query"] = statistics.median(times)
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
    steps = ("flow, per-row factors", "flow", "control")
    floor = rows["OMP_WAIT_POLICY=PASSIVE (sessions 4-19)"]["flow, per-row factors"]
    print(f"ms per training step, batch {args.batch}, {args.dim}-d (speed-up against PASSIVE with per-row factors);")
    print("single-query search latency in ms, 100k x 384 bank")
    latency = [k for k in next(iter(rows.values())) if k not in steps]
    print("| OpenMP wait | " + " | ".join(f"step: {k}" for k in steps) + " | " + " | ".join(latency) + " |")
    print("|---" * (1 + len(steps) + len(latency)) + "|")
    for name, ms in rows.items():
        cells = [f"{ms[k]:.1f} ({floor / ms[k]:.2f}x)" for k in steps] + [f"{ms[k]:.1f}" for k in latency]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
