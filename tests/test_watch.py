"""``rag index FOLDER --watch`` / :func:`rag.watch.watch`: real watchfiles on a temp folder.

Every check polls the index on disk (a fresh ``Rag.open``) until it matches or a
deadline passes; nothing asserts how long anything took.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rag import Rag, Settings
from rag.storage import current_generation
from rag.testing import HashEmbedder
from rag.watch import Burst, watch

DEADLINE_S = 30.0
RAG = [sys.executable, "-m", "rag.cli"]


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Watcher:
    """:func:`watch` on a thread, with what it reported."""

    def __init__(self, rag: Rag, folder: Path, **options: object) -> None:
        self.rag = rag
        self.bursts: list[Burst] = []
        self.skipped: list[str] = []
        self.errors: list[str] = []
        self.ready = threading.Event()
        self.stop = threading.Event()
        self.failure: BaseException | None = None

        def run() -> None:
            try:
                watch(
                    rag, [folder], stop=self.stop, on_burst=self.bursts.append,
                    on_skip=self.skipped.append, on_error=self.errors.append,
                    on_ready=self.ready.set, **options,  # type: ignore[arg-type]
                )  # fmt: skip
            except BaseException as exc:  # surfaced by the test, not lost in the thread
                self.failure = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.ready.is_set() or self.failure, "the watcher to start")
        assert self.failure is None, self.failure

    def close(self) -> None:
        self.stop.set()
        self.thread.join(DEADLINE_S)
        assert not self.thread.is_alive()
        assert self.failure is None, self.failure


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "iraq.txt").write_text(
        "US Leaves Iraq\n\nIn September 2024, the United States announced the end of its "
        "mission in Iraq.\n",
        encoding="utf-8",
    )
    return docs


@pytest.fixture
def rag(settings: Settings) -> Iterator[Rag]:
    with Rag.open(settings.index, settings, create=True, embedder=HashEmbedder()) as r:
        yield r


@pytest.fixture
def watcher(rag: Rag, folder: Path) -> Iterator[Watcher]:
    w = Watcher(rag, folder)
    try:
        yield w
    finally:
        w.close()


def on_disk(settings: Settings) -> dict[str, str]:
    """source -> the indexed text, read from the index folder by a new Rag."""
    with Rag.open(settings.index, settings, embedder=HashEmbedder()) as r:
        store = r.store
        return {
            d.source: "".join(s.chunk.text for s in store.chunks(d.chunk_ids).values())
            for d in store.documents().values()
        }


def test_follows_add_edit_rename_delete(watcher: Watcher, folder: Path, settings: Settings) -> None:
    iraq = str(folder / "iraq.txt")
    assert list(on_disk(settings)) == [iraq]  # the first synchronisation

    notes = folder / "notes.md"
    notes.write_text("# Bread\n\nKnead the dough for ten minutes.\n", encoding="utf-8")
    wait_for(lambda: str(notes) in on_disk(settings), "the new file")

    notes.write_text("# Bread\n\nBake it at 230 degrees until brown.\n", encoding="utf-8")
    wait_for(lambda: "230 degrees" in on_disk(settings).get(str(notes), ""), "the edit")
    assert "Knead" not in on_disk(settings)[str(notes)]
    hits = watcher.rag.search("bake degrees brown", 1)
    assert hits[0].source == str(notes) and "230 degrees" in hits[0].text

    renamed = folder / "baking.md"
    notes.rename(renamed)
    wait_for(lambda: set(on_disk(settings)) == {iraq, str(renamed)}, "the rename")
    assert "230 degrees" in on_disk(settings)[str(renamed)]

    renamed.unlink()
    wait_for(lambda: set(on_disk(settings)) == {iraq}, "the deletion")
    assert all(h.source == iraq for h in watcher.rag.search("bake degrees brown", 5))
    assert watcher.errors == [] and watcher.skipped == []
    kinds = [(b.summary.added, b.summary.updated, b.summary.removed) for b in watcher.bursts]
    assert kinds == [(1, 0, 0), (1, 0, 0), (0, 1, 0), (1, 0, 1), (0, 0, 1)]


def test_one_write_per_burst(rag: Rag, folder: Path, settings: Settings) -> None:
    w = Watcher(rag, folder, quiet_ms=1000)  # the 20 files surely land in one burst
    try:
        before = current_generation(settings.index)
        for i in range(20):
            (folder / f"note{i:02d}.txt").write_text(f"Note {i}: word{i} here.\n", "utf-8")
        wait_for(lambda: len(on_disk(settings)) == 21, "the 20 files")
        assert current_generation(settings.index) == before + 1  # one new generation
        assert [b.summary.added for b in w.bursts[1:]] == [20]
    finally:
        w.close()


def test_ignored_changes_write_nothing(watcher: Watcher, folder: Path, settings: Settings) -> None:
    before = current_generation(settings.index)
    (folder / ".iraq.txt.swp").write_text("editor swap file", encoding="utf-8")
    (folder / "draft.tmp").write_text("a temporary file", encoding="utf-8")
    (folder / "iraq.txt~").write_text("a backup", encoding="utf-8")
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "secret.txt").write_text("hidden folder", encoding="utf-8")
    (folder / "draft.tmp").unlink()
    os.utime(folder / "iraq.txt")  # touched, not changed: its hash is the same
    # Changes are applied in order: once this one is in, the ones above were seen.
    (folder / "sentinel.txt").write_text("The sentinel file.\n", encoding="utf-8")
    wait_for(lambda: str(folder / "sentinel.txt") in on_disk(settings), "the sentinel")
    assert set(on_disk(settings)) == {str(folder / "iraq.txt"), str(folder / "sentinel.txt")}
    assert current_generation(settings.index) == before + 1
    assert [(b.summary.added, b.summary.updated) for b in watcher.bursts[1:]] == [(1, 0)]


def test_the_index_inside_the_folder_is_not_followed(tmp_path: Path, folder: Path) -> None:
    settings = Settings(index=folder / "index", llm="none", chunk_size=200, chunk_overlap=60)
    with Rag.open(settings.index, settings, create=True, embedder=HashEmbedder()) as r:
        w = Watcher(r, folder)
        try:
            (folder / "index" / "uploads").mkdir()
            (folder / "index" / "uploads" / "up.txt").write_text("uploaded", "utf-8")
            (folder / "b.txt").write_text("Second document.\n", encoding="utf-8")
            wait_for(lambda: len(on_disk(settings)) == 2, "b.txt")
            gen = current_generation(settings.index)
            (folder / "c.txt").write_text("Third document.\n", encoding="utf-8")
            wait_for(lambda: len(on_disk(settings)) == 3, "c.txt")
            # Its own writes (to index/) never start a burst of their own.
            assert current_generation(settings.index) == gen + 1
            assert str(folder / "index" / "uploads" / "up.txt") not in on_disk(settings)
        finally:
            w.close()


def test_bad_file_is_skipped_and_the_watcher_goes_on(
    watcher: Watcher, folder: Path, settings: Settings
) -> None:
    bad = folder / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a PDF")
    wait_for(lambda: watcher.skipped, "the warning")
    # The same words `rag index` prints after "warning: skipped ".
    rag_index = subprocess.run(
        [*RAG, "index", str(bad), "--index", str(settings.index.parent / "other")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert rag_index.returncode == 2
    assert watcher.skipped[0] == rag_index.stderr.strip().removeprefix("error: ")
    (folder / "good.txt").write_text("A good file after the bad one.\n", encoding="utf-8")
    wait_for(lambda: str(folder / "good.txt") in on_disk(settings), "the next good file")
    assert str(bad) not in on_disk(settings) and watcher.errors == []


def test_folders_moved_and_deleted(watcher: Watcher, folder: Path, settings: Settings) -> None:
    sub = folder / "reports"
    staging = folder.parent / "staging"
    staging.mkdir()
    for name in ("q1.txt", "q2.md"):
        (staging / name).write_text(f"Report {name}.\n", encoding="utf-8")
    staging.rename(sub)  # a folder moved in: one event for the folder, not for its files
    wait_for(lambda: len(on_disk(settings)) == 3, "the moved-in folder")
    sub.rename(folder / "archive")
    want = {str(folder / "iraq.txt"), str(folder / "archive/q1.txt"), str(folder / "archive/q2.md")}
    wait_for(lambda: set(on_disk(settings)) == want, "the renamed folder")
    shutil.rmtree(folder / "archive")
    wait_for(lambda: set(on_disk(settings)) == {str(folder / "iraq.txt")}, "the deleted folder")


def test_first_sync_removes_what_went_while_nobody_watched(
    rag: Rag, folder: Path, settings: Settings
) -> None:
    (folder / "gone.txt").write_text("Soon deleted.\n", encoding="utf-8")
    rag.add([folder])
    (folder / "gone.txt").unlink()
    (folder / "new.txt").write_text("Added while nobody watched.\n", encoding="utf-8")
    w = Watcher(rag, folder)
    try:
        assert set(on_disk(settings)) == {str(folder / "iraq.txt"), str(folder / "new.txt")}
        first = w.bursts[0]
        assert first.initial and (first.summary.added, first.summary.removed) == (1, 1)
    finally:
        w.close()


def test_watch_wants_folders(rag: Rag, folder: Path, tmp_path: Path) -> None:
    from rag.errors import BadInputError, PathNotFoundError

    with pytest.raises(BadInputError, match="follows folders"):
        watch(rag, [folder / "iraq.txt"])
    with pytest.raises(PathNotFoundError):
        watch(rag, [tmp_path / "missing"])


@pytest.mark.parametrize("target", ["iraq.txt", "missing"])
def test_cli_watch_bad_path_is_one_line(folder: Path, tmp_path: Path, target: str) -> None:
    proc = subprocess.run(
        [*RAG, "index", str(folder / target), "--watch", "--index", str(tmp_path / "idx")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("error: ")
    assert not (tmp_path / "idx").exists()


# -- Ctrl-C: a subprocess running the library's watch with a slow fake embedder ----------

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from rag import Rag, Settings
    from rag.testing import HashEmbedder
    from rag.watch import watch

    class SlowEmbedder(HashEmbedder):
        def embed(self, texts, **kw):
            if texts and texts != ["warm up"]:
                print("embedding", flush=True)
                time.sleep(0.2)
            return super().embed(texts, **kw)

    folder, index = sys.argv[1], sys.argv[2]
    settings = Settings(index=index, llm="none", chunk_size=200, chunk_overlap=60,
                        ingest_batch=1)
    rag = Rag.open(index, settings, create=True, embedder=SlowEmbedder())
    watch(rag, [folder], on_ready=lambda: print("ready", flush=True),
          on_burst=lambda b: print("burst", b.summary.added, flush=True))
    print("stopped", flush=True)
    """
)


def start_script(tmp_path: Path, folder: Path) -> subprocess.Popen[str]:
    script = tmp_path / "watcher.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env = {k: v for k, v in env.items() if not k.startswith("RAG_")}
    proc = subprocess.Popen(
        [sys.executable, str(script), str(folder), str(tmp_path / "index")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or lines[-1] not in ("ready", ""):  # the sync, then ready (or EOF)
        lines.append(proc.stdout.readline().strip())
    assert lines[-1] == "ready", (lines, proc.stderr.read() if proc.poll() else "")
    assert lines[-2].startswith("burst "), lines  # what the first synchronisation did
    return proc


def check_index(index: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RAG, "check", "--index", str(index)], capture_output=True, text=True, timeout=120
    )


def write_burst(folder: Path, n: int) -> None:
    for i in range(n):
        (folder / f"burst{i:02d}.txt").write_text(f"Burst file {i} says word{i}.\n", "utf-8")


def test_ctrl_c_finishes_the_burst_under_way(tmp_path: Path, folder: Path) -> None:
    proc = start_script(tmp_path, folder)
    try:
        write_burst(folder, 10)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "embedding"  # the write is under way
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0, err
    assert out.splitlines()[-2:] == ["burst 10", "stopped"], out  # finished, then stopped
    check = check_index(tmp_path / "index")
    assert check.returncode == 0, check.stdout + check.stderr
    settings = Settings(index=tmp_path / "index", llm="none")
    assert len(on_disk(settings)) == 11


def test_second_ctrl_c_abandons_the_burst_atomically(tmp_path: Path, folder: Path) -> None:
    proc = start_script(tmp_path, folder)
    try:
        write_burst(folder, 10)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "embedding"
        proc.send_signal(signal.SIGINT)  # stop after this write...
        # ...once the handler has run (the next batch is embedded after it), abandon it.
        assert proc.stdout.readline().strip() == "embedding"
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=DEADLINE_S)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode != 0 and "burst 10" not in out  # killed mid-write
    check = check_index(tmp_path / "index")
    assert check.returncode == 0, check.stdout + check.stderr
    settings = Settings(index=tmp_path / "index", llm="none")
    assert set(on_disk(settings)) == {str(folder / "iraq.txt")}  # the previous generation
    # The next watcher (or rag index) writes where this one left off.
    proc = start_script(tmp_path, folder)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=DEADLINE_S)
    assert len(on_disk(settings)) == 11 and check_index(tmp_path / "index").returncode == 0


@pytest.mark.integration
def test_cli_index_watch_json_lines(tmp_path: Path, folder: Path) -> None:
    """The real command with the packaged embedder: a JSON line per burst, Ctrl-C is exit 0."""
    import json

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    proc = subprocess.Popen(
        [*RAG, "index", str(folder), "--watch", "--json", "--index", str(tmp_path / "idx")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        sync = json.loads(proc.stdout.readline())
        assert (sync["event"], sync["added"], sync["documents"]) == ("sync", 1, 1)
        assert proc.stderr.readline().startswith("watching ")
        (folder / "moon.txt").write_text("The Moon base opened in 2031.\n", encoding="utf-8")
        burst = json.loads(proc.stdout.readline())
        assert (burst["event"], burst["added"], burst["documents"]) == ("burst", 1, 2)
        assert burst["embedded"] == burst["chunks"] - sync["chunks"] > 0
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=DEADLINE_S)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 0 and out == "" and err.strip() == "stopped watching", err
    assert check_index(tmp_path / "idx").returncode == 0
