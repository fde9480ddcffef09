"""The named choices users pass on the command line, importable without torch, faiss or OpenCV, so
`pathsearch --help` and argument errors come back at once."""

from __future__ import annotations

from typing import Literal

Head = Literal["knn", "linear"]
PixelColour = Literal["lab-standardised", "rgb"]
IndexKind = Literal["flat", "ivf", "ivfpq", "hnsw"]
TissueMethod = Literal["otsu", "threshold", "none"]

# How long `eval retrieval`'s dev part may train each learned arm, searched every CHECK_EVERY epochs.
# At RETRIEVAL_LR, 250 epochs reach what 1,000 did at the general default rate (BENCHMARKS.md, session 17).
LONG_EPOCHS = 250
RETRIEVAL_LR = 5e-3
CHECK_EVERY = 25
