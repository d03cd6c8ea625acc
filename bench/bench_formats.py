"""Text extraction per format: a 10-page file of each kind through ``read_document``.

The same ten pages of prose (sentences of ``seeds/``, about 3,000 characters a page)
are written as .txt (the baseline: read and decode only), .md, .html, .pdf (reportlab,
one page each), .docx (python-docx, a page break after each page) and .pptx
(python-pptx, one slide each, the page's paragraphs as bullets). Each file is read
``--repeat`` times after one untimed read (imports and caches warm); the table gives
the median, and its ratio to the .txt read measured in the same run.

    .venv/bin/python bench/bench_formats.py
    .venv/bin/python bench/bench_formats.py --pages 50 --repeat 5

Benchmarks report; they never assert.
"""

# ruff: noqa: E501  (tables read better on one line)
from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.documents import read_document  # noqa: E402

PAGE_CHARS = 3000


def pages_of_prose(n: int) -> list[list[str]]:
    """``n`` pages, each a list of paragraphs of about PAGE_CHARS characters in all."""
    text = " ".join(p.read_text("utf-8") for p in sorted((REPO / "seeds").glob("*.txt")))
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(text.split())) if len(s) > 20]
    rng = random.Random(20)
    pages = []
    for _ in range(n):
        paragraphs, size = [], 0
        while size < PAGE_CHARS:
            para = " ".join(rng.choice(sentences) for _ in range(4))
            paragraphs.append(para)
            size += len(para)
        pages.append(paragraphs)
    return pages


def write_txt(path: Path, pages: list[list[str]]) -> None:
    path.write_text("\n\n".join(p for page in pages for p in page), encoding="utf-8")


def write_md(path: Path, pages: list[list[str]]) -> None:
    parts = [f"## Page {i}\n\n" + "\n\n".join(page) for i, page in enumerate(pages, 1)]
    path.write_text("# Report\n\n" + "\n\n".join(parts), encoding="utf-8")


def write_html(path: Path, pages: list[list[str]]) -> None:
    body = "".join(
        f"<h2>Page {i}</h2>" + "".join(f"<p>{p}</p>" for p in page)
        for i, page in enumerate(pages, 1)
    )
    path.write_text(
        f"<html><head><title>Report</title></head><body><article>{body}</article></body></html>"
    )


def write_pdf(path: Path, pages: list[list[str]]) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    style = getSampleStyleSheet()["BodyText"]
    story: list[object] = []
    for page in pages:
        story.extend(Paragraph(p, style) for p in page)
        story.append(PageBreak())
    SimpleDocTemplate(str(path), pagesize=A4).build(story)


def write_docx(path: Path, pages: list[list[str]]) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Report", level=1)
    for page in pages:
        for p in page:
            d.add_paragraph(p)
        d.add_page_break()
    d.save(str(path))


def write_pptx(path: Path, pages: list[list[str]]) -> None:
    import pptx

    deck = pptx.Presentation()
    for i, page in enumerate(pages, 1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Page {i}"
        frame = slide.placeholders[1].text_frame
        frame.text = page[0]
        for p in page[1:]:
            frame.add_paragraph().text = p
    deck.save(str(path))


FORMATS: list[tuple[str, str, Callable[[Path, list[list[str]]], None]]] = [
    (".txt", "(decode only)", write_txt),
    (".md", "(decode only)", write_md),
    (".html", "selectolax", write_html),
    (".pdf", "pypdf", write_pdf),
    (".docx", "python-docx", write_docx),
    (".pptx", "python-pptx", write_pptx),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    pages = pages_of_prose(args.pages)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, library, write in FORMATS:
            path = Path(tmp) / f"report{suffix}"
            write(path, pages)
            doc = read_document(path)  # untimed: imports, caches
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                read_document(path)
                times.append(time.perf_counter() - t0)
            rows.append(
                (
                    suffix,
                    library,
                    path.stat().st_size,
                    len(doc.text),
                    len(doc.page_starts),
                    statistics.median(times),
                )
            )
    base = rows[0][5]
    print(f"{args.pages} pages of prose, median of {args.repeat} reads")
    print(
        f"{'format':7} {'library':14} {'file KB':>8} {'chars':>7} {'pages':>5} {'extract ms':>10} {'x txt':>8}"
    )
    for suffix, library, size, chars, n_pages, t in rows:
        print(
            f"{suffix:7} {library:14} {size / 1024:8.0f} {chars:7d} {n_pages or '-':>5} {t * 1000:10.1f} {t / base:8.1f}"
        )


if __name__ == "__main__":
    main()
