"""The contract every vector store meets (tests/test_store_contract.py checks it)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VectorStore(Protocol):
    """Unit vectors keyed by integer chunk ids; scores are inner products (cosine)."""

    @property
    def dim(self) -> int: ...

    def __len__(self) -> int: ...

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors (shape ``(n, dim)``) under ``ids``. Raises ``ValueError`` on bad shapes."""
        ...

    def remove(self, ids: np.ndarray) -> int:
        """Remove the given ids; unknown ids are ignored. Returns how many were removed."""
        ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per query: ``(scores, ids)`` of shape ``(q, k)``, id -1 where fewer."""
        ...

    def save(self, folder: Path) -> None:
        """Write the store into ``folder`` (which the caller makes atomic)."""
        ...

    def copy(self) -> VectorStore:
        """An independent copy, so a writer never changes what a reader searches."""
        ...
