"""pathsearch: WSI tiling, foundation-model embeddings, STHLM generative vector search, few-shot heads."""

import os

# faiss and torch each bring an OpenMP runtime. With libgomp's default spin-wait (300,000 spins) each
# one's idle threads steal the cores the other needs (single-query search latency tripled on 2 cores);
# with no spinning (OMP_WAIT_POLICY=PASSIVE) every small torch op wakes sleeping threads, which halved
# STHLM training throughput. A short spin keeps both (BENCHMARKS.md, session 20). Must be set before
# either library loads; a wait policy or spin count the user exported wins.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ.setdefault("GOMP_SPINCOUNT", "10000")
