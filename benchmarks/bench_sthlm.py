"""STHLM search latency on CPU against plain k-NN on the same 100k-vector bank, in the same run.

Sampling cost does not depend on training, so the velocity net has its default size with fresh
weights. Reported: ms per query amortised over a batch of 256 queries, and single-query latency.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from timing import median_s

from pathsearch.bank import BankConfig, ReferenceBank
from pathsearch.sthlm.model import new_model
from pathsearch.sthlm.search import GenerativeSearch
from pathsearch.sthlm.train import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bank-size", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    corpus = rng.normal(size=(args.bank_size, args.dim)).astype(np.float32)
    queries = rng.normal(size=(args.batch, args.dim)).astype(np.float32)
    cfg = TrainConfig()
    model = new_model(args.dim, args.dim, "flow", cfg.residual, cfg.noise_scale, cfg.predict, width=cfg.width,
                      depth=cfg.depth, rank=cfg.rank, hyper_dim=cfg.hyper_dim)
    n_params = sum(p.numel() for p in model.net.parameters())
    print(f"torch threads {torch.get_num_threads()}, bank {args.bank_size} x {args.dim}, batch {args.batch}, "
          f"N={args.samples}, velocity net {n_params / 1e6:.2f} M parameters")
    print("| index | plain k-NN ms/query | sampling ms/query | STHLM ms/query | added ms/query | single query plain ms | single query STHLM ms |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("flat", "ivf", "hnsw"):
        bank = ReferenceBank.build(corpus, [str(i) for i in range(args.bank_size)], config=BankConfig(index=kind))
        print(measure(kind, GenerativeSearch(bank, model), bank.project(queries), args.samples, args.repeats), flush=True)


def measure(kind: str, search: GenerativeSearch, q: np.ndarray, samples: int, repeats: int) -> str:
    per_q = 1000 / len(q)
    plain = median_s(lambda: search.search(q, 0, 100), repeats, warmup=1) * per_q
    sampling = median_s(lambda: search.probes(q, samples), repeats, warmup=1) * per_q
    sthlm = median_s(lambda: search.search(q, samples, 100), repeats, warmup=1) * per_q
    one = q[:1]
    plain_1 = median_s(lambda: search.search(one, 0, 100), 20, warmup=1) * 1000
    sthlm_1 = median_s(lambda: search.search(one, samples, 100), 20, warmup=1) * 1000
    return f"| {kind} | {plain:.2f} | {sampling:.2f} | {sthlm:.2f} | {sthlm - plain:.2f} | {plain_1:.2f} | {sthlm_1:.2f} |"

if __name__ == "__main__":
    main()
