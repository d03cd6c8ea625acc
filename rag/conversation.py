"""Follow-up questions: one question the index can answer, from a conversation.

A short follow-up that leans on earlier turns ("and when was that?", "who
announced it?") gets the earlier questions it depends on appended as context,
so retrieval finds the same topic; the follow-up's own words stay first, so the
answerer still knows what kind of answer is wanted. ``Rag.ask(q, history=...)``,
``rag chat`` and the HTTP chat endpoint all use this.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rag.errors import BadInputError

_LEADING = re.compile(r"^\s*(and|but|so|also|then|ok(ay)?|well)\b[\s,]*", re.IGNORECASE)
_STARTS_AS_FOLLOW_UP = re.compile(r"^\s*(and|but|so|also|what about|how about)\b", re.IGNORECASE)
_REFERS_BACK = re.compile(
    r"\b(it|its|that|this|those|these|they|them|their|he|him|his|she|her|there|then|"
    r"the same|the former|the latter)\b",
    re.IGNORECASE,
)
FOLLOW_UP_MAX_WORDS = 12


def is_follow_up(text: str) -> bool:
    """A short message that starts like a follow-up or refers back to something."""
    if len(text.split()) > FOLLOW_UP_MAX_WORDS:
        return False
    return bool(_STARTS_AS_FOLLOW_UP.search(text) or _REFERS_BACK.search(text))


def with_context(question: str, history: Sequence[str], max_chars: int) -> str:
    """``question``, plus the earlier questions of ``history`` (oldest first) that it
    leans on, as ``"Question? (context: earlier question)"``; unchanged when it stands
    alone. Raises :class:`BadInputError` when ``question`` alone is longer than
    ``max_chars``; the context is cut to fit."""
    asked = [h.strip() for h in history if h and h.strip()]
    last = question.strip()
    context: list[str] = []
    current = last
    for earlier in reversed(asked):
        if not is_follow_up(current):
            break
        context.insert(0, _LEADING.sub("", earlier))
        current = earlier
    last = _LEADING.sub("", last) or last
    last = last[:1].upper() + last[1:]
    if len(last) > max_chars:
        raise BadInputError(f"the question is longer than {max_chars} characters")
    if not context:
        return last
    room = max_chars - len(last) - len(" (context: )")
    joined = " ".join(context)
    if room < 20:
        return last
    if len(joined) > room:
        joined = joined[-room:].lstrip()
    return f"{last} (context: {joined})"
