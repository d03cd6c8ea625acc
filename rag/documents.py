"""Read files into :class:`Document` objects: .txt, .md, .html/.htm and .pdf.

For .txt and .md the document text is the file's UTF-8 text unchanged (as
``open(path).read()`` returns it, with universal newlines), so chunk offsets
point into the file itself. HTML is reduced to its main text; PDFs give
one text per page, joined with blank lines, and the page offsets are kept.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rag.errors import PathNotFoundError, UnreadableDocumentError
from rag.text import MONTHS as _MONTHS
from rag.types import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")

_MONTH_RE = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE_PATTERNS = (
    re.compile(rf"\b(?P<m>{_MONTH_RE})\s+(?P<d>\d{{1,2}}),?\s+(?P<y>(?:19|20)\d\d)\b"),
    re.compile(rf"\b(?P<d>\d{{1,2}})\s+(?P<m>{_MONTH_RE}),?\s+(?P<y>(?:19|20)\d\d)\b"),
    re.compile(r"\b(?P<y>(?:19|20)\d\d)-(?P<mn>\d\d)-(?P<d>\d\d)\b"),
)
# A byline date is looked for near the top of the text only.
_DATE_WINDOW = 800


def doc_id_for(source: str) -> str:
    """Stable id of a document: derived from its absolute source path."""
    return hashlib.sha1(source.encode("utf-8")).hexdigest()[:16]


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def find_date(text: str) -> str | None:
    """The publication date stated near the top of ``text``, as ISO ``YYYY-MM-DD``."""
    head = text[:_DATE_WINDOW]
    found: list[tuple[int, str]] = []
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(head):
            iso = _to_iso(m.groupdict())
            if iso:
                found.append((m.start(), iso))
    return min(found)[1] if found else None


def _to_iso(g: dict[str, str | None]) -> str | None:
    try:
        if g.get("mn"):
            month = int(g["mn"] or 0)
        else:
            word = (g.get("m") or "").lower().rstrip(".")
            month = next(i + 1 for i, name in enumerate(_MONTHS) if name.startswith(word[:3]))
        return date(int(g["y"] or 0), month, int(g["d"] or 0)).isoformat()
    except (StopIteration, ValueError):
        return None


def find_title(text: str, fallback: str) -> str:
    """First Markdown heading if the text opens with one, else the first non-empty line."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        heading = re.match(r"^#{1,6}\s+(.*)$", stripped)
        title = heading.group(1) if heading else stripped
        return title.strip()[:200] or fallback
    return fallback


def _decode_text(data: bytes, path: Path) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableDocumentError(f"{path}: looks like a binary file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableDocumentError(f"{path}: not valid UTF-8 ({exc.reason})") from None
    # Universal newlines, exactly as open(path).read() returns the text, so that
    # open(source).read()[start:end] == quote holds for CRLF files too.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _read_plain(data: bytes, path: Path) -> tuple[str, str | None, tuple[int, ...]]:
    return _decode_text(data, path), None, ()


_HTML_DROP = "script, style, noscript, nav, header, footer, aside, form, svg, template"
_HTML_BLOCKS = {
    "p", "div", "section", "article", "main", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "tr", "br", "pre", "blockquote", "dd", "dt", "figcaption", "td", "th",
}  # fmt: skip


def _read_html(data: bytes, path: Path) -> tuple[str, str | None, tuple[int, ...]]:
    from selectolax.lexbor import LexborHTMLParser as HTMLParser

    raw = _decode_text(data, path)
    tree = HTMLParser(raw)
    title_node = tree.css_first("title")
    h1 = tree.css_first("h1")
    title = (h1.text(strip=True) if h1 else "") or (
        title_node.text(strip=True) if title_node else ""
    )
    for node in tree.css(_HTML_DROP):
        node.decompose()
    root = tree.css_first("article") or tree.css_first("main") or tree.body or tree.root
    if root is None:
        return "", title or None, ()
    parts: list[str] = []
    for node in root.traverse(include_text=True):
        if node.tag == "-text":
            parts.append(node.text_content or "")
        elif node.tag in _HTML_BLOCKS:
            parts.append("\n")
    text = "".join(parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" ?\n[ \n]*", "\n\n", text).strip()
    return text, title or None, ()


def _read_pdf(data: bytes, path: Path) -> tuple[str, str | None, tuple[int, ...]]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "").strip() for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableDocumentError(f"{path}: corrupt PDF ({exc})") from None
    starts: list[int] = []
    text = ""
    for i, page_text in enumerate(pages):
        if i:
            text += "\n\n"
        starts.append(len(text))
        text += page_text
    return text, None, tuple(starts)


Reader = Callable[[bytes, Path], tuple[str, str | None, tuple[int, ...]]]
_READERS: dict[str, Reader] = {
    ".txt": _read_plain,
    ".md": _read_plain,
    ".markdown": _read_plain,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
}


def read_document(path: Path) -> Document:
    """Read one file. Raises :class:`UnreadableDocumentError` for binary/empty/corrupt files."""
    path = path.expanduser().resolve()
    if not path.exists():
        raise PathNotFoundError(f"no such file or folder: {path}")
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableDocumentError(f"{path}: unsupported file type '{path.suffix}'")
    data = path.read_bytes()
    text, title, page_starts = reader(data, path)
    if not text.strip():
        raise UnreadableDocumentError(f"{path}: no text in file")
    source = str(path)
    return Document(
        doc_id=doc_id_for(source),
        source=source,
        title=title or find_title(text, path.stem),
        text=text,
        hash=content_hash(data),
        date=find_date(text),
        page_starts=page_starts,
    )


def text_document(text: str, title: str, source: str | None = None) -> Document:
    """A document from text given directly (for example over HTTP)."""
    if not text.strip():
        raise UnreadableDocumentError("the document text is empty")
    data = text.encode("utf-8")
    src = source or f"text:{content_hash(data)[:16]}"
    return Document(
        doc_id=doc_id_for(src),
        source=src,
        title=title.strip() or find_title(text, "untitled"),
        text=text,
        hash=content_hash(data),
        date=find_date(text),
    )


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def iter_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Every supported file under ``paths`` (files are yielded even if unsupported)."""
    for p in paths:
        p = p.expanduser()
        if not p.exists():
            raise PathNotFoundError(f"no such file or folder: {p}")
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                hidden = any(part.startswith(".") for part in f.relative_to(p).parts)
                if f.is_file() and not hidden and f.suffix.lower() in SUPPORTED_SUFFIXES:
                    yield f.resolve()
        else:
            yield p.resolve()


def page_of(doc_page_starts: tuple[int, ...], offset: int) -> int | None:
    """1-based page number containing ``offset``, for PDFs."""
    if not doc_page_starts:
        return None
    page = 1
    for i, start in enumerate(doc_page_starts):
        if start <= offset:
            page = i + 1
    return page
