"""Real bad files for the bad-input tests (library, CLI and HTTP): each made on disk or
in memory, never a mock of the reader."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

GOOD_TEXT = "Rivers\n\nThe Danube flows through ten countries. It ends in the Black Sea.\n"


def pdf_with_content(stream: bytes, *, compressed: bool = True) -> bytes:
    """A one-page PDF whose page content stream is ``stream``, marked FlateDecode when
    ``compressed`` (the caller deflates it: see :func:`deflated`)."""
    filters = b" /Filter /FlateDecode" if compressed else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d%s >>\nstream\n" % (len(stream), filters) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def deflated(piece: bytes, times: int) -> bytes:
    """``piece * times`` deflated, without holding the whole of it in memory."""
    z = zlib.compressobj(9)
    parts = [z.compress(piece) for _ in range(times)]
    parts.append(z.flush())
    return b"".join(parts)


def bomb_pdf() -> bytes:
    """About 200 KB on disk, 200 MB of page content once inflated."""
    return pdf_with_content(deflated(b"\0" * (1 << 20), 200))


def huge_page_pdf() -> bytes:
    """A page of 24 MB of content (within pypdf's limits, beyond ours)."""
    return pdf_with_content(deflated(b"0 0 m\n" * (1 << 16), 64))


def text_pdf(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out)
    c.drawString(72, 720, text)
    c.save()
    return out.getvalue()


def encrypted_pdf(text: str, user_password: str, algorithm: str = "AES-128") -> bytes:
    """A PDF encrypted with ``algorithm`` (AES needs the ``cryptography`` package)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf(text))))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def not_utf8_name(folder: Path, suffix: str = ".txt") -> Path:
    """A file whose name is not valid UTF-8 (bytes 0xff), with good text in it."""
    import os

    path = Path(os.fsdecode(os.fsencode(str(folder)) + b"/caf\xe9-notes" + suffix.encode()))
    path.write_text(GOOD_TEXT, encoding="utf-8")
    return path
