"""From retrieved passages to a checked answer, in named steps.

1. :mod:`~rag.answer.reading` cuts the passages into sentences and ranks them against
   the question; the best relevance is the *evidence*. Below ``evidence_threshold``
   the documents are off topic and we abstain without asking the model
   (step ``evidence_gate``). A line that only repeats its document's title is not
   read as a sentence (step ``skip_titles``).
2. The model reads windows around the best sentences (step ``windows``; off: the
   sentences alone), each headed by its document's title (step ``titles``), and
   answers in one short sentence or says ``NOT FOUND``
   (:mod:`~rag.answer.generate`).
3. Each sentence of the answer must be stated in a span of what the model read, which
   it cites (:mod:`~rag.answer.verify`; step ``verify``). If no sentence is, the best
   sentences are quoted instead (step ``fallback``; off: abstain).
4. A span that states the opposite of the question's premise (it is negated and the
   span is not; "indirectly" asked, "directly" stated) is not cited: if every span
   would be such, we abstain (:mod:`~rag.answer.polarity`; step ``polarity``).

Without an LLM the answer is the best sentence quoted. Each step can be switched off
by name (``Settings.answer_off``) to measure what it earns (docs/evaluation.md).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from rag.answer.generate import generate, is_not_found, messages_for
from rag.answer.polarity import clash
from rag.answer.reading import Passage, Sentence, Window, rank, sentences_of, windows
from rag.answer.verify import Claim, supported
from rag.config import Settings
from rag.embedding import Embedder
from rag.errors import BadInputError
from rag.generation import Generator, TokenCallback
from rag.types import Answer, Citation, Hit

__all__ = ["STEPS", "AnswerOptions", "Answerer", "Passage"]

STEPS = (
    "evidence_gate", "skip_titles", "windows", "titles", "verify", "fallback", "polarity",
)  # fmt: skip
# Calibrated on the tuning halves of the SQuAD and NQ dev sets (docs/evaluation.md).
EVIDENCE_THRESHOLD = 0.2
ABSTAIN_TEXT = "The documents do not contain an answer to this question."


@dataclass(frozen=True)
class AnswerOptions:
    """How an answer is made: the prompt budget, thresholds, and steps switched off."""

    prompt_chars: int = 1400
    max_tokens: int = 160
    evidence_threshold: float = EVIDENCE_THRESHOLD
    off: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def parse_off(cls, value: str | Collection[str]) -> frozenset[str]:
        names = value.split(",") if isinstance(value, str) else list(value)
        off = frozenset(n.strip() for n in names if n.strip())
        unknown = off - set(STEPS)
        if unknown:
            raise BadInputError(
                f"unknown answer step(s) {', '.join(sorted(unknown))}: "
                f"choose from {', '.join(STEPS)}"
            )
        return off

    @classmethod
    def from_settings(cls, settings: Settings) -> AnswerOptions:
        return cls(
            prompt_chars=settings.prompt_chars,
            max_tokens=settings.max_answer_tokens,
            evidence_threshold=settings.evidence_threshold,
            off=cls.parse_off(settings.answer_off),
        )

    def on(self, step: str) -> bool:
        return step not in self.off


class Answerer:
    """Turns a question and its retrieved passages into an :class:`Answer`."""

    def __init__(
        self,
        embedder: Embedder,
        generator: Generator | None = None,
        options: AnswerOptions | None = None,
    ) -> None:
        self._embedder = embedder
        self._generator = generator
        self._opt = options or AnswerOptions()

    def answer(
        self,
        question: str,
        passages: Sequence[Passage],
        related: Sequence[Hit],
        *,
        on_token: TokenCallback | None = None,
    ) -> Answer:
        opt = self._opt
        t0 = time.perf_counter()
        ranked = self._rank(question, passages)
        evidence = ranked[0].relevance if ranked else 0.0
        timings = {"rank_ms": _ms(t0)}
        base = _Base(question, timings, evidence)
        abstain = base.make(ABSTAIN_TEXT, False, [], "abstain", related=list(related))
        if not self._asks(ranked):
            return abstain
        if self._generator is None:
            if opt.on("polarity") and clash(question, ranked[0].text) is not None:
                return abstain
            return _quoted(ranked[:1], "extractive", base)
        shown = self._windows(ranked)
        messages = messages_for(question, shown, titles=opt.on("titles"))
        t1 = time.perf_counter()
        text, _raw = generate(
            self._generator, messages, max_tokens=opt.max_tokens, on_token=on_token
        )
        timings["generate_ms"] = _ms(t1)
        if text is None:
            return self._fallback(question, ranked, base, abstain)
        if is_not_found(text):
            return abstain
        read = _read_sentences(ranked, shown)
        if opt.on("verify"):
            t3 = time.perf_counter()
            claims = supported(self._embedder, question, text, read)
            timings["verify_ms"] = _ms(t3)
        else:
            claims = [Claim(text.strip(), read[0])] if read else []
        if claims and opt.on("polarity"):
            claims = [c for c in claims if clash(question, c.span.text) is None]
            if not claims:
                return abstain  # the answer rests on spans that say the opposite
        if not claims:
            return self._fallback(question, ranked, base, abstain)
        answer_text, cites = _numbered(claims)
        return base.make(answer_text, True, cites, "llm")

    def shown(self, question: str, passages: Sequence[Passage]) -> list[Window]:
        """The windows the model reads for ``question``: none when it is not asked (no
        sentence, or evidence below the gate). For measuring what reaches the prompt."""
        ranked = self._rank(question, passages)
        return self._windows(ranked) if self._asks(ranked) else []

    def _rank(self, question: str, passages: Sequence[Passage]) -> list[Sentence]:
        opt = self._opt
        sentences = sentences_of(passages, skip_titles=opt.on("skip_titles"))
        return rank(self._embedder, question, sentences, titles=opt.on("titles"))

    def _asks(self, ranked: Sequence[Sentence]) -> bool:
        """Whether the model is asked at all: some sentence, above the evidence gate."""
        opt = self._opt
        if not ranked:
            return False
        return not (opt.on("evidence_gate") and ranked[0].relevance < opt.evidence_threshold)

    def _windows(self, ranked: Sequence[Sentence]) -> list[Window]:
        radius = 1 if self._opt.on("windows") else 0
        return windows(ranked, self._opt.prompt_chars, radius=radius)

    def _fallback(
        self, question: str, ranked: Sequence[Sentence], base: _Base, abstain: Answer
    ) -> Answer:
        """The best sentence quoted, when the model's answer cannot be used."""
        if not self._opt.on("fallback"):
            return abstain
        if self._opt.on("polarity") and clash(question, ranked[0].text) is not None:
            return abstain
        return _quoted(ranked[:1], "extractive-fallback", base)


def _read_sentences(ranked: Sequence[Sentence], shown: Sequence[Window]) -> list[Sentence]:
    """The ranked sentences that lie inside the windows the model read, best first."""
    inside = []
    for s in ranked:
        doc = s.passage.chunk.doc_id
        if any(
            w.passage.chunk.doc_id == doc and w.start <= s.start and s.end <= w.end for w in shown
        ):
            inside.append(s)
    return inside


def _cite(n: int, s: Sentence) -> Citation:
    c = s.passage.chunk
    line = s.passage.line + c.text.count("\n", 0, s.start - c.start)
    return Citation(
        n=n, doc_id=c.doc_id, source=s.passage.source, title=s.passage.title,
        start=s.start, end=s.end, quote=s.text, line=line, date=s.passage.date,
    )  # fmt: skip


def _numbered(claims: Sequence[Claim]) -> tuple[str, list[Citation]]:
    """The claims joined, each followed by its citation mark; one citation per span."""
    cites: list[Citation] = []
    numbers: dict[tuple[str, int, int], int] = {}
    parts = []
    for claim in claims:
        n = numbers.get(claim.span.key)
        if n is None:
            n = numbers[claim.span.key] = len(cites) + 1
            cites.append(_cite(n, claim.span))
        parts.append(f"{claim.text.rstrip()} [{n}]")
    return " ".join(parts), cites


@dataclass(frozen=True)
class _Base:
    """What every answer to one question shares."""

    question: str
    timings: dict[str, float]
    evidence: float

    def make(
        self,
        text: str,
        answerable: bool,
        citations: list[Citation],
        mode: str,
        *,
        related: list[Hit] | None = None,
    ) -> Answer:
        return Answer(
            question=self.question, answer=text, answerable=answerable, citations=citations,
            related=related or [], timings=self.timings, mode=mode, evidence=self.evidence,
        )  # fmt: skip


def _quoted(best: Sequence[Sentence], mode: str, base: _Base) -> Answer:
    text, cites = _numbered([Claim(s.text, s) for s in best])
    return base.make(text, True, cites, mode)


def _ms(t0: float) -> float:
    return (time.perf_counter() - t0) * 1000
