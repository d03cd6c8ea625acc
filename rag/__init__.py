"""Local, offline question answering over your own documents, with checkable citations.

>>> from rag import Rag
>>> rag = Rag.open("index")                       # doctest: +SKIP
>>> rag.ask("When did the US announce leaving Iraq?").to_dict()   # doctest: +SKIP
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
    IndexNotFoundError,
    ModelError,
    PathNotFoundError,
    RagError,
    UnreadableDocumentError,
)
from rag.types import Answer, Citation, DocumentInfo, Hit, IndexSummary  # noqa: E402

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.pipeline import Rag

# `Rag` (numpy, faiss) and `Settings` (pydantic-settings) load on first use, so that
# `rag --help` and input errors answer without importing them.
_LAZY = {"Rag": "rag.pipeline", "Settings": "rag.config"}


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
    "IndexCorruptError", "IndexNotFoundError", "IndexSummary", "ModelError",
    "PathNotFoundError", "Rag", "RagError", "Settings", "UnreadableDocumentError",
]  # fmt: skip
