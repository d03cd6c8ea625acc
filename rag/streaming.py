"""Turn the model's streamed pieces into the answer text as it grows.

The answer is one line (``rag.answering.ANSWER_GRAMMAR``); a server that ignores the
grammar may write more, so only the first line is passed on, without its leading
whitespace, as the answerer reads it.
"""

from __future__ import annotations

from collections.abc import Callable


class AnswerTextStream:
    """Feed raw pieces with :meth:`feed`; ``on_text`` receives the answer's first line."""

    def __init__(self, on_text: Callable[[str], None]) -> None:
        self._on_text = on_text
        self._started = False
        self._done = False

    def feed(self, piece: str) -> None:
        if self._done:
            return
        if not self._started:
            piece = piece.lstrip()
            self._started = bool(piece)
        if "\n" in piece or "\r" in piece:
            piece = piece.splitlines()[0] if piece.splitlines() else ""
            self._done = True
        if piece:
            self._on_text(piece)
