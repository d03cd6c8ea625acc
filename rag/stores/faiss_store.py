"""FAISS store: exact inner-product search over normalised vectors, ids mapped to chunks."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np

from rag.errors import IndexCorruptError

FILENAME = "vectors.faiss"


class FaissStore:
    def __init__(self, dim: int, index: faiss.Index | None = None) -> None:
        self._dim = dim
        self._index = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self._dim:
            raise ValueError(f"expected vectors of shape (n, {self._dim}), got {vectors.shape}")
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        if len(ids):
            self._index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        selector = faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64))
        return int(self._index.remove_ids(selector))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if len(self) == 0:
            n = len(queries)
            return np.zeros((n, k), np.float32), np.full((n, k), -1, np.int64)
        scores, ids = self._index.search(queries, min(k, len(self)))
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=0.0)
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        return scores, ids

    def save(self, folder: Path) -> None:
        faiss.write_index(self._index, str(folder / FILENAME))

    def copy(self) -> FaissStore:
        return FaissStore(self._dim, faiss.clone_index(self._index))

    @classmethod
    def load(cls, folder: Path, dim: int) -> FaissStore:
        path = folder / FILENAME
        try:
            index = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise IndexCorruptError(f"cannot read {path}: {str(exc).splitlines()[0]}") from None
        if index.d != dim:
            raise IndexCorruptError(f"{path} holds {index.d}-d vectors, manifest says {dim}")
        return cls(dim, index)
