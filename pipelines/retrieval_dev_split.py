"""Carve a dev split out of a retrieval dataset's training qrels, so choices never see the real test split.

Writes OUT/ with links to the embeddings and qrels/dev-train.tsv + qrels/dev-test.tsv, ready for
`pathsearch eval retrieval OUT --split dev-test --train-split dev-train`.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from pathsearch.eval.retrieval_data import load_retrieval_dataset
from pathsearch.io.atomic import atomic_path

FILES = ("corpus.npy", "corpus_ids.txt", "queries.npy", "query_ids.txt", "corpus.jsonl", "queries.jsonl")


def carve(source: Path, out: Path, split: str, test_fraction: float, seed: int) -> tuple[int, int]:
    qrels = load_retrieval_dataset(source).qrels(split)
    queries = sorted(qrels)
    random.Random(seed).shuffle(queries)
    n_test = round(len(queries) * test_fraction)
    parts = {"dev-test": queries[:n_test], "dev-train": queries[n_test:]}
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    for name in FILES:
        if (source / name).is_file() and not (out / name).exists():
            (out / name).symlink_to((source / name).resolve())
    for name, ids in parts.items():
        with atomic_path(out / "qrels" / f"{name}.tsv") as tmp:
            lines = ["query-id\tcorpus-id\tscore"]
            lines += [f"{q}\t{d}\t{g}" for q in sorted(ids) for d, g in qrels[q].items()]
            tmp.write_text("\n".join(lines) + "\n")
    return len(parts["dev-train"]), len(parts["dev-test"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n_train, n_test = carve(args.dataset, args.out, args.split, args.test_fraction, args.seed)
    print(f"{args.out}: dev-train {n_train} queries, dev-test {n_test} queries")


if __name__ == "__main__":
    main()
