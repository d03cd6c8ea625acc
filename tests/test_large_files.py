"""Per-document steps are linear (issue 19.2): line numbers in one pass, and no regex
that backtracks over a long run. The times are measured in bench/bench_large_file.py;
here the results are checked, and the timeouts only stop a quadratic step hanging."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag import Rag, Settings
from rag.chunking import chunk_spans, line_of, lines_of, split_sentences
from rag.testing import HashEmbedder


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="ab\n", max_size=300), st.lists(st.integers(-5, 320), max_size=30))
def test_lines_of_agrees_with_line_of_in_any_order(text: str, offsets: list[int]) -> None:
    assert lines_of(text, offsets) == [line_of(text, max(o, 0)) for o in offsets]


@pytest.mark.timeout(60)
def test_a_long_run_of_stops_is_split_in_one_pass() -> None:
    text = "It began. " + "." * 200_000 + " Then it ended. Done."
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans][-2:] == ["Then it ended.", "Done."]
    assert text[spans[0][0] : spans[0][1]].startswith("It began.")
    assert chunk_spans(text, 700, 200)[-1][1] == len(text)


@pytest.mark.timeout(120)
def test_chunks_of_a_long_file_carry_their_line_numbers(tmp_path: Path) -> None:
    lines = [f"Line {i} says that item {i} is in stock." for i in range(6_000)]
    f = tmp_path / "long.txt"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    settings = Settings(index=tmp_path / "index", llm="none")
    rag = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder())
    rag.add([f])
    snap = rag._snapshot()
    text = f.read_text("utf-8")
    assert len(snap.chunks) > 100
    for cid, chunk in snap.chunks.items():
        assert snap.lines[cid] == line_of(text, chunk.start)
        assert text[chunk.start : chunk.end] == chunk.text
