from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_spans, line_of, split_sentences

TEXT = (
    "The U.S. Army left. Mr. Smith said so! J. R. Tolkien wrote 3.5 books.\n"
    "A heading without a stop\n\nIs this the end? Not yet. Done."
)


def test_sentences_keep_offsets_and_skip_abbreviations() -> None:
    spans = split_sentences(TEXT)
    got = [TEXT[a:b] for a, b in spans]
    assert got == [
        "The U.S. Army left.",
        "Mr. Smith said so!",
        "J. R. Tolkien wrote 3.5 books.",
        "A heading without a stop",
        "Is this the end?",
        "Not yet.",
        "Done.",
    ]


def test_chunks_are_exact_spans_within_size() -> None:
    text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(60))
    spans = chunk_spans(text, size=200, overlap=80)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    for a, b in spans:
        assert b - a <= 200
        assert text[a:b] == text[a:b].strip()
    # Consecutive chunks overlap (share a sentence) but always advance.
    for (a1, b1), (a2, b2) in zip(spans, spans[1:], strict=False):
        assert a1 < a2 < b1 < b2


def test_long_sentence_is_cut_at_words() -> None:
    text = "word " * 100
    spans = chunk_spans(text.strip(), size=50, overlap=0)
    assert all(b - a <= 50 for a, b in spans)
    assert " ".join(text.strip()[a:b] for a, b in spans).split() == text.split()


def test_line_of() -> None:
    assert line_of("a\nb\nc", 0) == 1
    assert line_of("a\nb\nc", 4) == 3


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab. \nXY?!,1"), max_size=400), st.integers(20, 120))
def test_chunks_cover_every_sentence(text: str, size: int) -> None:
    spans = chunk_spans(text, size=size, overlap=size // 3)
    covered = set()
    for a, b in spans:
        assert 0 <= a < b <= len(text)
        covered.update(range(a, b))
    # No content is lost; a space where an over-long sentence is cut in two belongs to
    # neither piece (found by Hypothesis: "1111111111111111111 1", size 20).
    for a, b in split_sentences(text):
        assert all(i in covered or text[i].isspace() for i in range(a, b))
