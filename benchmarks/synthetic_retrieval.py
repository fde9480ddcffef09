"""Write an NFCorpus-shaped retrieval set for `pathsearch eval retrieval`, to time training at that size
without the real corpus (not in the shared data): 3,633 documents, 384-d embeddings, 323 queries split
161 train / 162 test, about 38 graded relevant documents per query (NFCorpus test: 12,334 pairs over 323).

Documents sit in topics; a query's relevant documents are drawn from its topic, and the query is half
its topic's centre and half a fixed rotation of it, so plain k-NN finds part of the answer and a model
trained on the pairs can learn the rest.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from pathsearch.io.atomic import atomic_dir


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def write_dataset(out: Path, n_docs: int = 3633, n_queries: int = 323, n_train: int = 161, dim: int = 384, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n_topics = n_docs // 60  # topics larger than the most relevant documents a query has
    centres = _unit(rng.normal(size=(n_topics, dim)))
    topic_of = rng.integers(0, n_topics, n_docs)
    corpus = _unit(centres[topic_of] + 0.9 * rng.normal(size=(n_docs, dim)) / np.sqrt(dim) * 4)
    rotation = np.linalg.qr(rng.normal(size=(dim, dim)))[0]
    query_topic = rng.integers(0, n_topics, n_queries)
    queries = _unit(0.5 * centres[query_topic] + 0.5 * centres[query_topic] @ rotation.T + 0.6 * rng.normal(size=(n_queries, dim)) / np.sqrt(dim))
    splits: dict[str, list[str]] = {"train": [], "test": []}
    for q in range(n_queries):
        members = np.flatnonzero(topic_of == query_topic[q])
        relevant = rng.choice(members, size=min(len(members), int(rng.integers(25, 52))), replace=False)
        split = "train" if q < n_train else "test"
        splits[split] += [f"q{q}\td{d}\t{int(rng.integers(1, 3))}" for d in relevant]
    with atomic_dir(out) as tmp:
        (tmp / "qrels").mkdir()
        np.save(tmp / "corpus.npy", corpus)
        np.save(tmp / "queries.npy", queries)
        (tmp / "corpus_ids.txt").write_text("".join(f"d{i}\n" for i in range(n_docs)))
        (tmp / "query_ids.txt").write_text("".join(f"q{i}\n" for i in range(n_queries)))
        for split, lines in splits.items():
            (tmp / "qrels" / f"{split}.tsv").write_text("\n".join(["query-id\tcorpus-id\tscore", *lines]) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_dataset(args.out, seed=args.seed)
    print(f"NFCorpus-shaped set -> {args.out}")


if __name__ == "__main__":
    main()
