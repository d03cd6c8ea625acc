"""Picking up another handle's write: stale() is cheap and honest, a reload never goes back."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rag import IndexCorruptError, Rag, Settings
from rag import storage as storage_module
from rag.storage import Snapshot
from rag.testing import HashEmbedder


def handle(folder: Path) -> Rag:
    return Rag.open(folder, Settings(index=folder, llm="none"), create=True,
                    embedder=HashEmbedder())  # fmt: skip


def titles(rag: Rag) -> set[str]:
    return {d.title for d in rag.documents()}


def test_stale_says_when_another_handle_wrote(tmp_path: Path) -> None:
    reader = handle(tmp_path)
    reader.add_text("Herons nest in trees.", "Herons")
    writer = handle(tmp_path)
    assert not reader.stale()
    writer.add_text("Kiwi birds cannot fly.", "Kiwi")
    assert reader.stale() and titles(reader) == {"Herons"}
    reader.reload()
    assert not reader.stale() and titles(reader) == {"Herons", "Kiwi"}


def test_a_slow_reload_never_replaces_a_newer_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = handle(tmp_path)
    served.add_text("Herons nest in trees.", "Herons")
    handle(tmp_path).add_text("Kiwi birds cannot fly.", "Kiwi")  # another process
    gate, waiting = threading.Event(), threading.Event()
    load = storage_module.load
    calls = []

    def first_load_stalls(folder: Path) -> Snapshot:
        calls.append(folder)
        snap = load(folder)
        if len(calls) == 1:  # read, but slow to finish
            waiting.set()
            assert gate.wait(30)
        return snap

    monkeypatch.setattr(storage_module, "load", first_load_stalls)
    reload = threading.Thread(target=served.reload)
    reload.start()
    assert waiting.wait(10)  # the reload is stuck loading the Kiwi generation
    served.add_text("Puffins dive for fish.", "Puffins")  # a newer generation, this handle
    gate.set()
    reload.join(30)
    assert titles(served) == {"Herons", "Kiwi", "Puffins"}  # not back to Herons + Kiwi


def test_a_generation_that_fails_to_load_is_not_stale_until_current_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = handle(tmp_path)
    served.add_text("Herons nest in trees.", "Herons")
    writer = handle(tmp_path)
    writer.add_text("Kiwi birds cannot fly.", "Kiwi")
    load = storage_module.load

    def broken(folder: Path) -> Snapshot:
        raise IndexCorruptError(f"{folder}: corrupt")

    monkeypatch.setattr(storage_module, "load", broken)
    with pytest.raises(IndexCorruptError):
        served.reload()
    assert not served.stale() and titles(served) == {"Herons"}  # the old one still reads
    monkeypatch.setattr(storage_module, "load", load)
    writer.add_text("Puffins dive for fish.", "Puffins")
    assert served.stale()
    served.reload()
    assert titles(served) == {"Herons", "Kiwi", "Puffins"}
