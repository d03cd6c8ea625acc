"""Vector stores: the :class:`VectorStore` protocol and its implementations."""

from rag.stores.base import VectorStore
from rag.stores.faiss_store import FaissStore

__all__ = ["FaissStore", "VectorStore"]
