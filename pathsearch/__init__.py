"""pathsearch: WSI tiling, foundation-model embeddings, STHLM generative vector search, few-shot heads."""

import os

# faiss and torch each bring an OpenMP runtime; with the default spin-waiting, each one's idle threads
# steal the cores the other needs, which tripled single-query search latency on a 2-core machine.
# Must be set before either library loads; a value the user exported wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
