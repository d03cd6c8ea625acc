"""Sizes and sha256 checksums of the files of an index generation.

:func:`rag.storage.save` records every file of a generation in its manifest
(``"files": {"chunks.jsonl": {"size": ..., "sha256": ...}, ...}``) and a checksum of
the manifest itself (``"checksum"``, over its canonical JSON without that key).
Opening a generation checks every size (a ``stat`` each) and the checksums of the
files it reads whole anyway; ``rag check`` (:mod:`rag.verify`) checks them all.
Generations written before checksums existed have neither key and still open.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
_HEX = frozenset("0123456789abcdef")


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def generation_files(gdir: Path) -> Iterator[str]:
    """Every regular file under ``gdir`` but the manifest, as a relative POSIX path, sorted."""
    for root, dirs, files in os.walk(gdir):
        dirs.sort()
        for name in sorted(files):
            rel = Path(root, name).relative_to(gdir).as_posix()
            if rel != MANIFEST:
                yield rel


def file_records(gdir: Path, known: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """``{relative path: {"size", "sha256"}}`` for every file of ``gdir`` but the manifest;
    ``known`` holds digests already computed while writing (the file is not read again)."""
    known = known or {}
    records = {}
    for rel in generation_files(gdir):
        path = gdir / rel
        digest = known.get(rel) or sha256_file(path)
        records[rel] = {"size": path.stat().st_size, "sha256": digest}
    return records


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's canonical JSON, its own ``checksum`` key left out."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def records_problem(files: object) -> str | None:
    """What is wrong with a manifest's ``files`` value, or ``None``."""
    if not isinstance(files, dict):
        return "its file list is not an object"
    for rel, rec in files.items():
        if (
            not isinstance(rel, str) or rel.startswith("/") or ".." in Path(rel).parts
            or not isinstance(rec, dict) or type(rec.get("size")) is not int or rec["size"] < 0
            or not is_sha256(rec.get("sha256"))
        ):  # fmt: skip
            return f"bad file record {str(rel)[:60]!r}"
    return None


def is_sha256(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def size_problem(path: Path, size: int) -> str | None:
    """Why ``path`` is not a regular file of ``size`` bytes, or ``None``."""
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    if st.st_size != size:
        return f"{st.st_size:,} bytes where {size:,} were written (truncated or overwritten)"
    return None


def checksum_problem(path: Path, digest: str) -> str | None:
    """Why ``path``'s sha256 is not ``digest``, or ``None``."""
    try:
        actual = sha256_file(path)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if actual != digest:
        return "sha256 differs from the one written (the content changed)"
    return None
