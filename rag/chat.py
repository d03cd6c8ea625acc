"""The ``rag chat`` REPL: ask, see the answer stream in, ask again (follow-ups carry the
earlier questions they lean on, see rag.conversation)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from rag.errors import RagError
from rag.streaming import AnswerTextStream

HELP = "Type a question. /sources shows the full quotes of the last answer; Ctrl-D leaves."


def run_chat(rag: Any, k: int | None, *, print_answer: Callable[..., None]) -> None:
    out = sys.stdout
    print(HELP, file=out)
    last = None
    asked: list[str] = []  # earlier questions: a follow-up is asked with their context
    while True:
        try:
            line = input("\n? ")
        except EOFError:
            print(file=out)
            return
        except KeyboardInterrupt:
            print(file=out)
            continue
        question = line.strip()
        if not question:
            continue
        if question in {"/quit", "/exit"}:
            return
        if question == "/sources":
            if last is None:
                print("no answer yet", file=out)
            else:
                print_answer(last, full_quotes=True)
            continue
        if question.startswith("/"):
            print(HELP, file=out)
            continue
        streamed: list[str] = []

        def show(text: str, streamed: list[str] = streamed) -> None:
            if not streamed:
                out.write("\x1b[2m" if out.isatty() else "")
            streamed.append(text)
            out.write(text)
            out.flush()

        stream = AnswerTextStream(show)
        try:
            last = rag.ask(question, k, on_token=stream.feed, history=asked)
        except RagError as exc:
            print(f"error: {exc}", file=sys.stderr)
            continue
        asked.append(question)
        if streamed:
            out.write("\x1b[0m\n\n" if out.isatty() else "\n\n")
        print_answer(last)
