"""Generators for the service's tests: one that streams slowly behind a gate, one that fails."""

from __future__ import annotations

import threading
import time
from typing import Any

from rag.generation import Messages, TokenCallback


class GatedGenerator:
    """Streams ``{"answer": "<text>"}`` a word at a time, each word waiting for ``gate``.

    Records how many pieces it emitted and whether a callback stopped it.
    """

    def __init__(self, text: str, *, delay: float = 0.0, gate: threading.Event | None = None):
        words = text.split(" ")
        self.pieces = ['{"answer": "'] + [w + " " for w in words[:-1]] + [words[-1], '"}']
        self.delay = delay
        self.gate = gate or threading.Event()
        if gate is None:
            self.gate.set()
        self.started = threading.Event()
        self.emitted = 0
        self.calls = 0
        self.stopped_by: BaseException | None = None

    @property
    def name(self) -> str:
        return "gated"

    def generate(
        self,
        messages: Messages,
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        on_token: TokenCallback | None = None,
    ) -> str:
        self.calls += 1
        self.started.set()
        try:
            for piece in self.pieces:
                if not self.gate.wait(timeout=30):
                    raise TimeoutError("gate never opened")
                time.sleep(self.delay)
                if on_token is not None:
                    on_token(piece)
                self.emitted += 1
        except BaseException as exc:
            self.stopped_by = exc
            raise
        return "".join(self.pieces)


class FailingGenerator:
    """Raises the given exception when asked to generate."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    @property
    def name(self) -> str:
        return "failing"

    def generate(
        self,
        messages: Messages,
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        on_token: TokenCallback | None = None,
    ) -> str:
        raise self.exc
