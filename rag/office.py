"""Office formats: .docx through python-docx, .pptx through python-pptx.

As for PDFs, the *extracted* text is what offsets point into. A .docx gives one
paragraph per line, paragraphs and table rows separated by blank lines, in document
order (a table row's cells joined with `` | ``). A .pptx gives one text per slide,
joined with blank lines, and keeps where each slide starts, so a citation of a
presentation carries its slide number as its ``page``. The title is the document's
own (core properties) when it has one, else its first heading (first slide title).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.documents import display_path
from rag.errors import UnreadableDocumentError, first_line

# An Office file is a zip of XML: refuse one whose parts unpack to more than this
# (a decompression bomb) before a parser reads any of it.
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
# Titles that tools write by default, which name no document.
_GENERIC_TITLES = frozenset({"", "powerpoint presentation", "presentation", "document"})

Extracted = tuple[str, str | None, tuple[int, ...]]


def read_docx(data: bytes, path: Path) -> Extracted:
    _check_zip(data, path, "Word")
    try:
        import docx
        from docx.table import Table

        document = docx.Document(io.BytesIO(data))
        blocks: list[str] = []
        heading: str | None = None
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                blocks.extend(_table_rows(item))
                continue
            text = item.text.strip()
            if not text:
                continue
            if heading is None and _is_heading(item):  # a style lookup is slow: once found, stop
                heading = text
            blocks.append(text)
        title = _own_title(document.core_properties.title) or heading
    except UnreadableDocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is one clear message
        raise UnreadableDocumentError(
            f"{display_path(path)}: corrupt Word file ({first_line(exc)[:200]})"
        ) from None
    return "\n\n".join(blocks), title, ()


def read_pptx(data: bytes, path: Path) -> Extracted:
    _check_zip(data, path, "PowerPoint")
    try:
        import pptx

        deck = pptx.Presentation(io.BytesIO(data))
        slides: list[str] = []
        heading: str | None = None
        for slide in deck.slides:
            title_shape = slide.shapes.title
            title_text = title_shape.text_frame.text.strip() if title_shape is not None else ""
            if heading is None and title_text:
                heading = title_text
            lines = [t for t in _shape_texts(slide.shapes) if t]
            slides.append("\n".join(lines))
        title = _own_title(deck.core_properties.title) or heading
    except UnreadableDocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - any parser failure is one clear message
        raise UnreadableDocumentError(
            f"{display_path(path)}: corrupt PowerPoint file ({first_line(exc)[:200]})"
        ) from None
    starts: list[int] = []
    length = 0
    for i, text in enumerate(slides):
        length += 2 if i else 0
        starts.append(length)
        length += len(text)
    return "\n\n".join(slides), title, tuple(starts)


def _shape_texts(shapes: Any) -> Iterator[str]:
    """Every line of text of the shapes, in their order (groups and tables included)."""
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if isinstance(shape, GroupShape):
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_table", False):
            yield from _table_rows(shape.table)
        elif getattr(shape, "has_text_frame", False):
            for paragraph in shape.text_frame.paragraphs:
                yield "".join(run.text for run in paragraph.runs).strip()


def _table_rows(table: Any) -> Iterator[str]:
    for row in table.rows:
        cells = [" ".join(cell.text.split()) for cell in row.cells]
        line = " | ".join(c for c in cells if c)
        if line:
            yield line


def _is_heading(paragraph: Any) -> bool:
    style = paragraph.style
    return bool(style is not None and (style.name or "").startswith(("Title", "Heading")))


def _own_title(value: str | None) -> str | None:
    title = " ".join((value or "").split())[:200]
    return None if title.lower() in _GENERIC_TITLES else title


def _check_zip(data: bytes, path: Path, kind: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UnreadableDocumentError(
            f"{display_path(path)}: not a {kind} file ({first_line(exc)[:200]})"
        ) from None
    if unpacked > MAX_UNPACKED_BYTES:
        raise UnreadableDocumentError(
            f"{display_path(path)}: unpacks to {unpacked // 2**20} MB, a decompression bomb? "
            f"(more than {MAX_UNPACKED_BYTES // 2**20} MB)"
        )
