"""Read files into :class:`Document` objects: .txt, .md, .html/.htm, .pdf, .docx, .pptx.

For .txt and .md the document text is the file's UTF-8 text unchanged (as
``open(path).read()`` returns it, with universal newlines), so chunk offsets
point into the file itself. HTML is reduced to its main text; PDFs give
one text per page, joined with blank lines, and the page offsets are kept.
Word and PowerPoint files are read by :mod:`rag.office` (slides are pages).

Whatever goes wrong with one file (no permission, gone, not a regular file, a name
that is not UTF-8, an encrypted or corrupt PDF, a decompression bomb, a file over
:data:`MAX_FILE_BYTES`) raises :class:`UnreadableDocumentError` naming it: a folder
run skips it and goes on; a file named directly is refused before anything is written.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from rag.errors import PathNotFoundError, RagError, UnreadableDocumentError, first_line
from rag.text import MONTHS as _MONTHS
from rag.types import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".pptx")

# Bounds on one file, so that one file cannot take all memory or time of a run.
MAX_FILE_BYTES = 256 * 1024 * 1024
# A PDF's text, all pages together, and one page's decoded content stream: a page
# beyond it is a bomb or a drawing, not prose (ordinary pages have kilobytes).
MAX_PDF_PAGE_CONTENT = 16 * 1024 * 1024
# All pages together (pages may share one content stream: each use counts).
MAX_PDF_CONTENT = 64 * 1024 * 1024
MAX_PDF_TEXT_CHARS = 64 * 1024 * 1024
# Operators and operands pypdf parses in one content stream (its default, 2 M, takes
# ~30 s on one page; a dense page of text has some 10-50 thousand).
MAX_PDF_PAGE_TOKENS = 250_000

log = logging.getLogger("rag.documents")

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
    """First Markdown heading if the text opens with one, else the first non-empty line
    (a byte-order mark is not part of it; only the first lines are looked at)."""
    for m in _FIRST_LINES.finditer(text, 0, _TITLE_WINDOW):
        stripped = m.group().replace("\ufeff", "").strip()
        if not stripped:
            continue
        heading = re.match(r"^#{1,6}\s+(.*)$", stripped)
        title = heading.group(1) if heading else stripped
        return title.strip()[:200] or fallback
    return fallback


_FIRST_LINES = re.compile(r"[^\r\n]+")
_TITLE_WINDOW = 64 * 1024


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

    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import DependencyError, LimitReachedError, PdfReadError

    shown = display_path(path)
    try:
        with (
            _pypdf_quiet(shown),
            apply_configuration(stream_parsing_work_maximum_count=MAX_PDF_PAGE_TOKENS),
        ):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                _decrypt(reader, shown)
            pages = list(_pdf_pages(reader, shown))
    except LimitReachedError as exc:
        raise UnreadableDocumentError(
            f"{shown}: PDF too large to read safely, a decompression bomb? "
            f"(pypdf: {first_line(exc)})"
        ) from None
    except DependencyError as exc:
        raise UnreadableDocumentError(f"{shown}: encrypted PDF ({first_line(exc)})") from None
    except (PdfReadError, ValueError, KeyError, TypeError) as exc:
        raise UnreadableDocumentError(f"{shown}: corrupt PDF ({first_line(exc)})") from None
    starts: list[int] = []
    parts: list[str] = []
    length = 0
    for i, page_text in enumerate(pages):
        if i:
            parts.append("\n\n")
            length += 2
        starts.append(length)
        parts.append(page_text)
        length += len(page_text)
    return "".join(parts), None, tuple(starts)


def _decrypt(reader: Any, shown: str) -> None:
    """Open a PDF encrypted with an empty user password (RC4 or AES, the latter with the
    ``cryptography`` package): many PDFs are, only to restrict printing or copying."""
    if not reader.decrypt(""):
        raise UnreadableDocumentError(f"{shown}: encrypted PDF (it needs a password)")


def _pdf_pages(reader: Any, shown: str) -> Iterator[str]:
    """Each page's text, refusing a file whose content is beyond the bounds."""
    total = content = 0
    for n, page in enumerate(reader.pages, start=1):
        contents = page.get_contents()
        size = len(contents.get_data()) if contents is not None else 0
        content += size
        if size > MAX_PDF_PAGE_CONTENT:
            raise UnreadableDocumentError(
                f"{shown}: page {n} has {size // 2**20} MB of content "
                f"(more than {MAX_PDF_PAGE_CONTENT // 2**20} MB)"
            )
        if content > MAX_PDF_CONTENT:
            raise UnreadableDocumentError(
                f"{shown}: more than {MAX_PDF_CONTENT // 2**20} MB of page content"
            )
        text = (page.extract_text() or "").strip()
        total += len(text)
        if total > MAX_PDF_TEXT_CHARS:
            raise UnreadableDocumentError(
                f"{shown}: more than {MAX_PDF_TEXT_CHARS // 2**20} M characters of text"
            )
        yield text


_READING: contextvars.ContextVar[str] = contextvars.ContextVar("rag_reading_pdf", default="")


class _PypdfToDebug(logging.Handler):
    """pypdf's warnings about a malformed file (it logs them; its ``warnings.warn`` are
    only deprecations), as debug records of ours naming the file, not lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("%s: pypdf: %s", _READING.get() or "a PDF", record.getMessage())


@contextlib.contextmanager
def _pypdf_quiet(shown: str) -> Iterator[None]:
    """Route pypdf's log to our debug log while ``shown`` is read (thread-safe: the
    handler is installed once, the file name is a context variable)."""
    pypdf_log = logging.getLogger("pypdf")
    if not any(isinstance(h, _PypdfToDebug) for h in pypdf_log.handlers):
        pypdf_log.addHandler(_PypdfToDebug())
        pypdf_log.propagate = False
    token = _READING.set(shown)
    try:
        yield
    finally:
        _READING.reset(token)


def _read_docx(data: bytes, path: Path) -> tuple[str, str | None, tuple[int, ...]]:
    from rag.office import read_docx  # rag.office imports this module

    return read_docx(data, path)


def _read_pptx(data: bytes, path: Path) -> tuple[str, str | None, tuple[int, ...]]:
    from rag.office import read_pptx

    return read_pptx(data, path)


Reader = Callable[[bytes, Path], tuple[str, str | None, tuple[int, ...]]]
_READERS: dict[str, Reader] = {
    ".txt": _read_plain,
    ".md": _read_plain,
    ".markdown": _read_plain,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
    ".pptx": _read_pptx,
}


def display_path(path: Path | str) -> str:
    """``path`` as text that can always be printed and put in JSON (bytes of a name that
    is not UTF-8 shown as ``\\xNN``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_document(path: Path, *, max_bytes: int = MAX_FILE_BYTES) -> Document:
    """Read one regular file.

    Raises :class:`PathNotFoundError` when ``path`` does not exist and
    :class:`UnreadableDocumentError` (naming the file and why) for anything else that
    stops it being read: never another exception, so one file cannot stop a run.
    """
    shown = display_path(path)
    try:
        path = path.expanduser().resolve()
        shown = display_path(path)
        if not os.path.lexists(path):
            raise PathNotFoundError(f"{shown}: no such file")
        return _read(path, shown, max_bytes)
    except RagError:
        raise
    except FileNotFoundError:
        raise PathNotFoundError(f"{shown}: no such file (deleted while it was read)") from None
    except PermissionError:
        raise UnreadableDocumentError(f"{shown}: permission denied") from None
    except UnicodeEncodeError:
        raise UnreadableDocumentError(f"{shown}: the file name is not valid UTF-8") from None
    except MemoryError:
        raise UnreadableDocumentError(f"{shown}: too large to read in memory") from None
    except Exception as exc:  # a parser's own error: the file, not the run, is at fault
        kind = type(exc).__name__
        raise UnreadableDocumentError(f"{shown}: cannot read ({kind}: {first_line(exc)})") from None


def _read(path: Path, shown: str, max_bytes: int) -> Document:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableDocumentError(f"{shown}: unsupported file type '{path.suffix}'")
    source = str(path)
    source.encode("utf-8")  # a name that is not UTF-8 cannot be a source: say so now
    data = _read_regular(path, shown, max_bytes)
    text, title, page_starts = reader(data, path)
    if not text.strip():
        raise UnreadableDocumentError(f"{shown}: no text in file")
    return Document(
        doc_id=doc_id_for(source),
        source=source,
        title=(title or "").replace("\ufeff", "").strip() or find_title(text, path.stem),
        text=text,
        hash=content_hash(data),
        date=find_date(text),
        page_starts=page_starts,
    )


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


def _read_regular(path: Path, shown: str, max_bytes: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``max_bytes``.

    Opened without blocking and checked on the open descriptor, so a FIFO or a device
    named directly is refused instead of waiting forever for a writer.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableDocumentError(f"{shown}: not a regular file")
        if info.st_size > max_bytes:
            raise UnreadableDocumentError(
                f"{shown}: {_size(info.st_size)} is more than the "
                f"{_size(max_bytes)} a file may have (split it)"
            )
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as fh:
            fd = -1
            data = fh.read(max_bytes + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(data) > max_bytes:  # grew while we read it
        raise UnreadableDocumentError(f"{shown}: more than {_size(max_bytes)}")
    return data


def text_document(text: str, title: str, source: str | None = None) -> Document:
    """A document from text given directly (for example over HTTP)."""
    if not text.strip():
        raise UnreadableDocumentError("the document text is empty")
    data = text.encode("utf-8")
    src = source or f"text:{content_hash(data)[:16]}"
    return Document(
        doc_id=doc_id_for(src),
        source=src,
        title=title.replace("\ufeff", "").strip() or find_title(text, "untitled"),
        text=text,
        hash=content_hash(data),
        date=find_date(text),
    )


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


def page_of(doc_page_starts: Sequence[int], offset: int) -> int | None:
    """1-based page number containing ``offset``, for PDFs (None for unpaged formats)."""
    if not doc_page_starts:
        return None
    return max(1, bisect.bisect_right(doc_page_starts, offset))
