"""From an OpenAI-style conversation to one question the library can answer.

The last user message is the question. A short follow-up that leans on earlier
turns ("and when was that?") gets the earlier user questions it depends on
appended as context, so retrieval finds the same topic; the wh-word stays
first, so the library still knows what kind of answer is wanted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from api.errors import ApiError

_LEADING = re.compile(r"^\s*(and|but|so|also|then|ok(ay)?|well)\b[\s,]*", re.IGNORECASE)
_STARTS_AS_FOLLOW_UP = re.compile(r"^\s*(and|but|so|also|what about|how about)\b", re.IGNORECASE)
_REFERS_BACK = re.compile(
    r"\b(it|its|that|this|those|these|they|them|their|he|him|his|she|her|there|then|"
    r"the same|the former|the latter)\b",
    re.IGNORECASE,
)
FOLLOW_UP_MAX_WORDS = 12


class Turn(Protocol):
    @property
    def role(self) -> str: ...

    def text(self) -> str: ...


def is_follow_up(text: str) -> bool:
    """A short message that starts like a follow-up or refers back to something."""
    if len(text.split()) > FOLLOW_UP_MAX_WORDS:
        return False
    return bool(_STARTS_AS_FOLLOW_UP.search(text) or _REFERS_BACK.search(text))


def question_from(turns: Sequence[Turn], max_chars: int) -> str:
    """The question to ask: the last user message, with context when it is a follow-up."""
    asked = [t.text().strip() for t in turns if t.role == "user" and t.text().strip()]
    if not asked:
        raise ApiError(422, "the conversation has no user message with text")
    last = asked[-1]
    context: list[str] = []
    current = last
    for earlier in reversed(asked[:-1]):
        if not is_follow_up(current):
            break
        context.insert(0, _LEADING.sub("", earlier))
        current = earlier
    question = _LEADING.sub("", last) or last
    question = question[:1].upper() + question[1:]
    if len(question) > max_chars:
        raise ApiError(422, f"the question is longer than {max_chars} characters")
    if not context:
        return question
    room = max_chars - len(question) - len(" (context: )")
    joined = " ".join(context)
    if room < 20:
        return question
    if len(joined) > room:
        joined = joined[-room:].lstrip()
    return f"{question} (context: {joined})"
