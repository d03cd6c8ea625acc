"""Errors raised by the library.

Every error the library raises on purpose derives from :class:`RagError`, so
callers (the CLI, the HTTP layer, other tools) can catch one class::

    RagError                      root; ``str(err)`` is a one-line message for a person
    ├── BadInputError             the caller asked for something that cannot work (exit 2)
    │   ├── EmptyQuestionError    a question that is empty or only whitespace
    │   ├── PathNotFoundError     a file or folder that does not exist
    │   ├── DocumentNotFoundError  no document with that id or path in the index
    │   └── UnreadableDocumentError  a binary, empty, corrupt or undecodable file
    ├── IndexError_               the index folder is missing, corrupt, or incompatible (exit 2)
    │   ├── IndexNotFoundError    no index at the given path
    │   ├── IndexCorruptError     a file missing, damaged, or disagreeing with the others
    │   ├── EmbeddingMismatchError  index built with another embedding model
    │   └── StoreUnavailableError  a store (Milvus) that cannot be reached or opened
    ├── ModelError                a model cannot be found or loaded (exit 2)
    │   └── ChecksumError         a model file whose sha256 does not match
    └── GenerationError           the LLM failed while answering (exit 1)
"""

from __future__ import annotations


class RagError(Exception):
    """Root of every error the library raises on purpose."""

    exit_code = 1


class BadInputError(RagError):
    exit_code = 2


class EmptyQuestionError(BadInputError):
    pass


class PathNotFoundError(BadInputError):
    pass


class DocumentNotFoundError(BadInputError):
    pass


class UnreadableDocumentError(BadInputError):
    pass


class IndexError_(RagError):  # noqa: N801 - avoid shadowing the builtin IndexError
    exit_code = 2


class IndexNotFoundError(IndexError_):
    pass


class IndexCorruptError(IndexError_):
    """A file of the index that is missing, damaged, or disagrees with the others.

    ``path``: that file (or folder) when one is known; ``problem``: what is wrong with it.
    """

    def __init__(self, message: str, *, path: object = None, problem: str | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.problem = problem or message

    @classmethod
    def at(cls, path: object, problem: str) -> IndexCorruptError:
        """The error for one damaged file: ``corrupt index file PATH: PROBLEM``."""
        return cls(f"corrupt index file {path}: {problem}", path=path, problem=problem)


class EmbeddingMismatchError(IndexError_):
    pass


class StoreUnavailableError(IndexError_):
    pass


class ModelError(RagError):
    exit_code = 2


class ChecksumError(ModelError):
    pass


class GenerationError(RagError):
    exit_code = 1


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its ``message`` attribute when it has
    one, as pymilvus' do), or its class name: for one-line errors built on others."""
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
