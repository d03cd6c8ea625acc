"""Local, offline question answering over your own documents, with checkable citations.

>>> from rag import Rag
>>> rag = Rag.open("index")                       # doctest: +SKIP
>>> rag.ask("When did the US announce leaving Iraq?").to_dict()   # doctest: +SKIP

A program that embeds the library passes its own parts in (models, and the store that
holds the index) and catches the library's errors by their root or by kind::

    from rag import IndexError_, Rag, RagError, open_store
    store = open_store("milvus://db:19530?collection=docs", Path("index"))
    try:
        with Rag.open(store=store, embedder=my_embedder) as rag:
            answer = rag.ask(question)
    except IndexError_:   # no index, a corrupt one, another model, or Milvus unreachable
        ...
    except RagError:      # everything else the library raises on purpose
        ...
"""

import os as _os

# llama.cpp and torch use OpenMP; spinning threads make a contended 2-core machine
# crawl (measured: 28 s instead of 3.6 s for one short answer). Must be set before
# either library loads its OpenMP runtime.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from typing import TYPE_CHECKING  # noqa: E402

from rag.errors import (  # noqa: E402
    BadInputError,
    ChecksumError,
    EmbeddingMismatchError,
    EmptyQuestionError,
    GenerationError,
    IndexCorruptError,
    IndexError_,
    IndexNotFoundError,
    ModelError,
    PathNotFoundError,
    RagError,
    StoreUnavailableError,
    UnreadableDocumentError,
)
from rag.types import Answer, Citation, DocumentInfo, Hit, IndexSummary  # noqa: E402

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.pipeline import Rag
    from rag.stores import Store, open_store

# `Rag` (numpy, faiss) and `Settings` (pydantic-settings) load on first use, so that
# `rag --help` and input errors answer without importing them.
_LAZY = {
    "Rag": "rag.pipeline", "Settings": "rag.config",
    "Store": "rag.stores", "open_store": "rag.stores",
}  # fmt: skip


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


__all__ = [
    "Answer", "BadInputError", "ChecksumError", "Citation", "DocumentInfo",
    "EmbeddingMismatchError", "EmptyQuestionError", "GenerationError", "Hit",
    "IndexCorruptError", "IndexError_", "IndexNotFoundError", "IndexSummary", "ModelError",
    "PathNotFoundError", "Rag", "RagError", "Settings", "Store", "StoreUnavailableError",
    "UnreadableDocumentError", "open_store",
]  # fmt: skip
