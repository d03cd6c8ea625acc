"""Stores: the :class:`Store` and :class:`VectorStore` contracts and their implementations.

``open_store`` picks one from a location: an index folder (the default), or
``milvus:///absolute/path/file.db`` (Milvus Lite, in-process) or
``milvus://host:19530`` (a Milvus server), with an optional ``?collection=NAME``.
"""

from __future__ import annotations

from pathlib import Path

from rag.stores.base import (
    Batch,
    DocRecord,
    IndexMeta,
    NewDocument,
    Store,
    StoredChunk,
    VectorStore,
)

__all__ = [
    "Batch",
    "DocRecord",
    "IndexMeta",
    "NewDocument",
    "Store",
    "StoredChunk",
    "VectorStore",
    "open_store",
]


def open_store(location: str | None, folder: Path) -> Store:
    """The store at ``location`` (a ``milvus://`` URL), or the index folder when ``None``."""
    if location and location.strip():
        from rag.stores.milvus_store import MilvusStore

        return MilvusStore.from_url(location.strip())
    from rag.stores.folder import FolderStore

    return FolderStore(folder)
