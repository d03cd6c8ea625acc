"""Uploaded files: sanitised names under ``<index>/uploads/``, committed all or nothing.

A name keeps only its last path component and the characters ``A-Z a-z 0-9 . _ -``,
so nothing can escape the uploads folder. Uploading a name again replaces the
file (and updates its document). If indexing fails, the previous files come back.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO, TypeVar

from api.errors import ApiError
from rag.documents import SUPPORTED_SUFFIXES

T = TypeVar("T")

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_STEM = 100


def safe_name(filename: str | None) -> str:
    """A harmless file name keeping a supported suffix; 415 for other types."""
    raw = unicodedata.normalize("NFKC", filename or "").replace("\\", "/").replace("\x00", "")
    base = PurePosixPath(raw).name
    stem, dot, suffix = base.rpartition(".")
    suffix = f".{suffix.lower()}" if dot else ""
    if suffix not in SUPPORTED_SUFFIXES:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise ApiError(415, f"'{base[:80]}': unsupported file type (use {kinds})",
                       type="unsupported_media_type")  # fmt: skip
    clean = _UNSAFE.sub("_", stem).strip("._-")[:MAX_STEM].strip("._-")
    return (clean or "upload") + suffix


def unique_names(names: Sequence[str]) -> list[str]:
    """Give repeated names in one request distinct suffixes: a.txt, a-2.txt, ..."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0) + 1
        seen[name] = count
        if count > 1:
            stem, _, suffix = name.rpartition(".")
            name = f"{stem}-{count}.{suffix}"
        out.append(name)
    return out


def store_and_index(
    folder: Path, files: Sequence[tuple[str, BinaryIO]], index: Callable[[list[Path]], T]
) -> tuple[list[Path], T]:
    """Write ``files`` (sanitised names) into ``folder``, then call ``index`` on their paths.

    When ``index`` raises, the new files are removed and replaced ones restored.
    """
    folder.mkdir(parents=True, exist_ok=True)
    names = unique_names([safe_name(name) for name, _ in files])
    staged: list[tuple[Path, Path]] = []
    try:
        for name, (_, data) in zip(names, files, strict=True):
            tmp = folder / f".part-{uuid.uuid4().hex}"
            with open(tmp, "wb") as out:
                shutil.copyfileobj(data, out, 1024 * 1024)
            staged.append((tmp, folder / name))
    except BaseException:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        raise
    backups: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for tmp, final in staged:
            if final.exists():
                backup = folder / f".old-{uuid.uuid4().hex}"
                os.replace(final, backup)
                backups.append((backup, final))
            os.replace(tmp, final)
            placed.append(final)
        result = index([p for _, p in staged])
    except BaseException:
        for path in placed:
            path.unlink(missing_ok=True)
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
        for backup, final in backups:
            os.replace(backup, final)
        raise
    for backup, _ in backups:
        backup.unlink(missing_ok=True)
    return [final for _, final in staged], result


def is_upload(folder: Path, source: str) -> bool:
    """Whether ``source`` is a file inside the uploads ``folder``."""
    try:
        path = Path(source).resolve()
    except (OSError, ValueError):
        return False
    return path.parent == folder.resolve()
