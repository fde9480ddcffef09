"""Reference bank: PCA-reduced vectors in a faiss index, with ids, labels and metadata."""

from pathsearch.bank.bank import BankConfig, ReferenceBank

__all__ = ["BankConfig", "ReferenceBank"]
