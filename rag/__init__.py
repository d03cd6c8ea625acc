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

from rag.config import Settings  # noqa: E402
from rag.errors import (
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
from rag.pipeline import Rag
from rag.types import Answer, Citation, DocumentInfo, Hit, IndexSummary

__all__ = [
    "Answer", "BadInputError", "ChecksumError", "Citation", "DocumentInfo",
    "EmbeddingMismatchError", "EmptyQuestionError", "GenerationError", "Hit",
    "IndexCorruptError", "IndexNotFoundError", "IndexSummary", "ModelError",
    "PathNotFoundError", "Rag", "RagError", "Settings", "UnreadableDocumentError",
]  # fmt: skip
