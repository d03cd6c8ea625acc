"""Turn the model's streamed JSON (``{"answer": "..."}``) into the answer text as it grows."""

from __future__ import annotations

import json
from collections.abc import Callable

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class AnswerTextStream:
    """Feed raw pieces with :meth:`feed`; ``on_text`` receives decoded answer text only."""

    def __init__(self, on_text: Callable[[str], None]) -> None:
        self._on_text = on_text
        self._buffer = ""
        self._pos = 0  # next unread index in _buffer
        self._inside = False
        self._done = False

    def feed(self, piece: str) -> None:
        if self._done:
            return
        self._buffer += piece
        if not self._inside:
            key = self._buffer.find('"answer"')
            if key < 0:
                return
            quote = self._buffer.find('"', self._buffer.find(":", key + 8) + 1)
            if quote < 0 or self._buffer.find(":", key + 8) < 0:
                return
            self._inside = True
            self._pos = quote + 1
        out: list[str] = []
        buf = self._buffer
        while self._pos < len(buf):
            ch = buf[self._pos]
            if ch == '"':
                self._done = True
                break
            if ch == "\\":
                if self._pos + 1 >= len(buf):
                    break
                esc = buf[self._pos + 1]
                if esc == "u":
                    if self._pos + 6 > len(buf):
                        break
                    out.append(json.loads(f'"{buf[self._pos : self._pos + 6]}"'))
                    self._pos += 6
                    continue
                out.append(_ESCAPES.get(esc, esc))
                self._pos += 2
                continue
            out.append(ch)
            self._pos += 1
        if out:
            self._on_text("".join(out))
