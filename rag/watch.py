"""Keep an index in step with folders: ``rag index FOLDER --watch``, ``rag serve --watch``.

watchfiles (inotify on Linux, FSEvents on macOS, ReadDirectoryChangesW on Windows)
reports what changed. A burst of changes (until ``quiet_ms`` pass without a new one,
at most ``max_wait_ms``) is applied as one write through :meth:`rag.Rag.update`: the
same reading, chunking, embedding, lock and generation (or segment) write as
``rag index``, so one burst is one new generation, and readers see all of it or none.

Events only say where to look; the filesystem says what is true. A path that is a
file is read (unchanged content is recognised by its hash and costs no embedding), a
folder that appeared is read whole, and a path that is gone removes the documents
whose files were at or under it. A rename is both. What ``rag index FOLDER`` leaves
out is left out here too: hidden files and folders (a leading dot, which covers
editors' temporary files such as ``.notes.md.swp``), unsupported extensions, and the
index folder itself. A file that cannot be read is skipped with the same warning as
``rag index``; the watcher goes on.

Before the first event, the folders are synchronised once: every file is added or
updated, and documents under them whose files no longer exist are removed.

Ctrl-C (SIGINT, when :func:`watch` runs in the main thread) stops the watcher after
the write under way is committed; a second Ctrl-C abandons that write, which leaves
the previous generation live (a write commits by replacing ``CURRENT``, nothing else).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.documents import SUPPORTED_SUFFIXES, doc_id_for, iter_files
from rag.errors import BadInputError, PathNotFoundError, RagError, first_line
from rag.types import IndexSummary

if TYPE_CHECKING:
    from watchfiles import Change

    from rag.pipeline import Rag
    from rag.stores import DocRecord

__all__ = ["Burst", "Folders", "watch"]

QUIET_MS = 300  # a burst ends when nothing changed for this long...
MAX_WAIT_MS = 5000  # ...or after this long, so a long copy is written in steps
_POLL_MS = 200  # how often the watcher looks at the stop event while idle

Writing = Callable[[], contextlib.AbstractContextManager[Any]]


@dataclass(frozen=True)
class Burst:
    """What one applied burst did (``initial``: the synchronisation before the first)."""

    summary: IndexSummary
    initial: bool = False
    at: float = 0.0  # time.time() when it was committed

    @property
    def changed(self) -> bool:
        s = self.summary
        return bool(s.added or s.updated or s.removed or s.skipped)

    def to_dict(self) -> dict[str, Any]:
        when = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.at))
        return {"event": "sync" if self.initial else "burst", "time": when,
                **self.summary.to_dict()}  # fmt: skip

    def line(self) -> str:
        """One short line: ``12:03:04 2 added, 1 changed, 0 removed -> 14 documents``."""
        s = self.summary
        when = time.strftime("%H:%M:%S", time.localtime(self.at))
        skipped = f", {len(s.skipped)} skipped" if s.skipped else ""
        what = "synced" if self.initial else "burst"
        return (
            f"{when} {what}: {s.added} added, {s.updated} changed, {s.removed} removed{skipped}"
            f" → {s.documents} documents, {s.chunks} chunks"
        )


class Folders:
    """The folders watched, and which paths under them are documents (as ``rag index``
    sees a folder: no hidden parts, a supported extension, nothing in the index)."""

    def __init__(self, paths: Iterable[str | Path], index: Path | None = None) -> None:
        roots: list[Path] = []
        for p in paths:
            path = Path(p).expanduser()
            if not path.exists():
                raise PathNotFoundError(f"no such folder: {path}")
            if not path.is_dir():
                raise BadInputError(
                    f"--watch follows folders; {path} is a file (watch its folder, "
                    "or index it without --watch)"
                )
            roots.append(path.resolve())
        if not roots:
            raise BadInputError("name at least one folder to watch")
        # A folder inside another one is watched through it.
        self.roots = sorted(
            {r for r in roots if not any(o != r and r.is_relative_to(o) for o in roots)}
        )
        self.index = index.expanduser().resolve() if index is not None else None

    def root_of(self, path: Path) -> Path | None:
        for root in self.roots:
            if path == root or path.is_relative_to(root):
                return root
        return None

    def _inside(self, path: Path) -> bool:
        """Under a root, not hidden below it, not in the index folder."""
        root = self.root_of(path)
        if root is None:
            return False
        if self.index is not None and (path == self.index or path.is_relative_to(self.index)):
            return False
        return not any(part.startswith(".") for part in path.relative_to(root).parts)

    def wanted(self, path: Path) -> bool:
        """Whether the file ``path`` is a document of these folders."""
        return self._inside(path) and path.suffix.lower() in SUPPORTED_SUFFIXES

    def relevant(self, change: Change, raw: str) -> bool:
        """watchfiles' filter: the events a burst may have to act on."""
        from watchfiles import Change

        path = Path(raw)
        if not self._inside(path):
            return False
        if change == Change.deleted:  # a document or a folder of them, perhaps
            return True
        return path.suffix.lower() in SUPPORTED_SUFFIXES or (
            change == Change.added and path.is_dir()
        )

    def files(self, folder: Path) -> list[Path]:
        """The documents in ``folder`` now (``rag index``'s walk, then :meth:`wanted`)."""
        try:
            return [f for f in iter_files([folder]) if self.wanted(f)]
        except (OSError, PathNotFoundError):  # gone again while we looked
            return []


class _Plan:
    """The files to read and the documents to remove for one burst."""

    def __init__(self, documents: Mapping[str, DocRecord]) -> None:
        self._documents = documents
        self._sources: list[str] | None = None
        self.read: dict[Path, None] = {}
        self.remove: dict[str, None] = {}

    def add_file(self, path: Path) -> None:
        self.read[path] = None

    def remove_gone(self, path: Path) -> None:
        """Remove the documents whose files were ``path`` or under it and are gone."""
        doc_id = doc_id_for(str(path))
        if doc_id in self._documents:
            self.remove[doc_id] = None
        if self._sources is None:
            self._sources = sorted(d.source for d in self._documents.values())
        prefix = str(path) + os.sep
        i = bisect.bisect_left(self._sources, prefix)
        while i < len(self._sources) and self._sources[i].startswith(prefix):
            source = self._sources[i]
            if not os.path.lexists(source):
                self.remove[doc_id_for(source)] = None
            i += 1


def plan_sync(folders: Folders, documents: Mapping[str, DocRecord]) -> _Plan:
    """Everything in the folders, and the documents under them whose files are gone."""
    plan = _Plan(documents)
    for root in folders.roots:
        for f in folders.files(root):
            plan.add_file(f)
    for d in documents.values():
        path = Path(d.source)
        if folders.root_of(path) is not None and not os.path.lexists(path):
            plan.remove[d.doc_id] = None
    return plan


def plan_burst(
    folders: Folders, changes: Iterable[tuple[Change, str]], documents: Mapping[str, DocRecord]
) -> _Plan:
    """What a set of changes means now: read what is there, remove what is gone."""
    from watchfiles import Change

    plan = _Plan(documents)
    for change, raw in sorted(changes, key=lambda c: c[1]):
        path = Path(raw)
        if path.is_file():
            resolved = path.resolve()
            if folders.wanted(resolved):
                plan.add_file(resolved)
        elif path.is_dir():
            if change == Change.added:  # a folder created or moved in: read it whole
                for f in folders.files(path):
                    plan.add_file(f)
        else:
            plan.remove_gone(path)
    return plan


def watch(
    rag: Rag,
    folders: Sequence[str | Path],
    *,
    on_burst: Callable[[Burst], None] | None = None,
    on_skip: Callable[[str], None] | None = None,
    on_error: Callable[[str], None] | None = None,
    on_ready: Callable[[], None] | None = None,
    stop: threading.Event | None = None,
    writing: Writing = contextlib.nullcontext,
    sync: bool = True,
    quiet_ms: int = QUIET_MS,
    max_wait_ms: int = MAX_WAIT_MS,
) -> None:
    """Keep ``rag``'s index in step with ``folders`` until ``stop`` is set (or Ctrl-C).

    ``on_burst``: called after each write that changed something (and after the first
    synchronisation, ``sync=True``, whatever it did). ``on_skip``: a file that could not
    be read, in ``rag index``'s words. ``on_error``: a burst that could not be written
    (the index locked by a broken writer, a full disk); its paths are tried again with
    the next burst. ``on_ready``: called once the folders are watched and synchronised.
    ``writing``: entered around every burst, before the index is read to plan it (a
    server passes its write lock). Raises PathNotFoundError or BadInputError at once
    for a folder that does not exist or is a file.
    """
    from watchfiles import watch as watch_changes

    watched = Folders(folders, rag.path)
    stop = stop if stop is not None else threading.Event()
    pending: set[tuple[Change, str]] = set()
    first = True

    def apply(plan_of: Callable[[Mapping[str, DocRecord]], _Plan], initial: bool) -> bool:
        try:
            with writing():
                rag.reload()  # another writer's documents count when planning
                plan = plan_of(rag.store.documents())
                if not initial and not plan.read and not plan.remove:
                    return True
                summary = rag.update(plan.read, plan.remove, on_skip=on_skip)
        except (RagError, OSError) as exc:
            if on_error is not None:
                on_error(first_line(exc))
            return False
        burst = Burst(summary, initial, time.time())
        if on_burst is not None and (initial or burst.changed):
            on_burst(burst)
        return True

    with _stop_on_interrupt(stop):
        changes_iter = watch_changes(
            *watched.roots, watch_filter=watched.relevant, debounce=max_wait_ms, step=quiet_ms,
            stop_event=stop, rust_timeout=_POLL_MS, yield_on_timeout=True, raise_interrupt=False,
        )  # fmt: skip
        for changes in changes_iter:
            if first:
                # The watch is in place (changes from now on are kept): the walk below sees
                # everything older, including whatever this first yield reports.
                first = False
                if sync:
                    apply(functools.partial(plan_sync, watched), True)
                if on_ready is not None:
                    on_ready()
                continue
            pending.update(changes)
            if pending and apply(functools.partial(plan_burst, watched, pending), False):
                pending.clear()
            if stop.is_set():
                break


@contextlib.contextmanager
def _stop_on_interrupt(stop: threading.Event) -> Iterator[None]:
    """In the main thread, the first SIGINT sets ``stop`` (the write under way finishes);
    the second raises KeyboardInterrupt as usual (the write is abandoned, atomically)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
