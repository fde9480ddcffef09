"""How a bank's search space is built; kept in bank.json, so a saved bank searches as it was built."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from pathsearch.choices import IndexKind


class BankConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    index: IndexKind = "flat"
    pca_dim: int | None = Field(default=None, ge=1)
    whiten: bool = False
    nlist: int = Field(default=1024, ge=1)
    nprobe: int = Field(default=32, ge=1)
    hnsw_m: int = Field(default=32, ge=4)
    ef_search: int = Field(default=64, ge=1)  # HNSW candidates per query (faiss's default, 16, misses ~30%)
    pq_m: int | None = Field(default=None, ge=1)  # IVF-PQ sub-quantizers; must divide the search dimension
