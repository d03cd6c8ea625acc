"""From a conversation to one question the library can answer.

For ``/v1/chat/completions`` the last user message is the question and the
earlier user messages are its history; ``/v1/ask`` takes the history as a list
of earlier questions. rag.conversation decides which of them a follow-up leans on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from api.errors import ApiError
from rag.conversation import is_follow_up, with_context
from rag.errors import BadInputError

__all__ = ["Turn", "checked_history", "is_follow_up", "question_from"]


class Turn(Protocol):
    @property
    def role(self) -> str: ...

    def text(self) -> str: ...


def question_from(turns: Sequence[Turn], max_chars: int) -> str:
    """The question to ask: the last user message, with context when it is a follow-up."""
    asked = [t.text().strip() for t in turns if t.role == "user" and t.text().strip()]
    if not asked:
        raise ApiError(422, "the conversation has no user message with text")
    try:
        return with_context(asked[-1], asked[:-1], max_chars)
    except BadInputError as exc:
        raise ApiError(422, str(exc)) from None


def checked_history(history: Sequence[str], max_items: int, max_chars: int) -> list[str]:
    """The earlier questions of ``/v1/ask``, or 422 when they break the service's limits."""
    if len(history) > max_items:
        raise ApiError(422, f"history: more than {max_items} earlier questions")
    for i, earlier in enumerate(history):
        if len(earlier.strip()) > max_chars:
            raise ApiError(422, f"history.{i}: longer than {max_chars} characters")
    return list(history)
