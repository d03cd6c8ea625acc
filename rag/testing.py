"""Fakes for fast unit tests (never what a user runs): a deterministic embedder and a
canned generator. Pass them in: ``Rag(settings, embedder=HashEmbedder(), generator=...)``.

The contract tests every store, embedder and generator passes (:class:`StoreContract`,
:class:`EmbeddingContract`, :class:`GeneratorContract`) live in :mod:`rag.testing_contracts`
and are importable from here; they import pytest, so they load on first use.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.errors import GenerationError
from rag.generation import Messages, TokenCallback

if TYPE_CHECKING:
    from rag.testing_contracts import (
        ANSWER_SCHEMA,
        EmbeddingContract,
        GeneratorContract,
        StoreContract,
    )

__all__ = [
    "ANSWER_SCHEMA",
    "CannedGenerator",
    "EmbeddingContract",
    "GeneratorContract",
    "HashEmbedder",
    "StoreContract",
]
_CONTRACTS = {"ANSWER_SCHEMA", "EmbeddingContract", "GeneratorContract", "StoreContract"}


def __getattr__(name: str) -> Any:
    if name in _CONTRACTS:  # imported here, not above: the contracts import pytest
        from rag import testing_contracts

        return getattr(testing_contracts, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class HashEmbedder:
    """Bag of hashed words: texts sharing words get close vectors. Deterministic."""

    def __init__(self, dim: int = 64, name: str = "test/hash-embedder") -> None:
        self._dim = dim
        self._name = name
        self.calls = 0
        self.embedded = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.calls += 1
        self.embedded += len(texts)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
                out[i, h % self._dim] += 1.0
            norm = np.linalg.norm(out[i])
            out[i] = out[i] / norm if norm else out[i]
            if not norm:
                out[i, 0] = 1.0
        return out


class CannedGenerator:
    """Returns the given replies in order (the last one repeats); records the prompts.

    Like a real model it has a context: a prompt longer than ``context`` characters is a
    :class:`GenerationError` (recorded all the same).
    """

    def __init__(self, *replies: str, context: int = 200_000) -> None:
        self._replies = list(replies) or ['{"answer": "NOT FOUND"}']
        self._context = context
        self.prompts: list[Messages] = []

    @property
    def name(self) -> str:
        return "canned"

    def generate(
        self,
        messages: Messages,
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        on_token: TokenCallback | None = None,
    ) -> str:
        self.prompts.append(messages)
        if sum(len(m["content"]) for m in messages) > self._context:
            raise GenerationError(f"the prompt is longer than the context ({self._context} chars)")
        reply = self._replies[min(len(self.prompts) - 1, len(self._replies) - 1)]
        if on_token is not None:
            for i in range(0, len(reply), 4):
                on_token(reply[i : i + 4])
        return reply
