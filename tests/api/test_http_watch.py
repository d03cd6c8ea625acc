"""``rag serve --watch FOLDER``: the served index follows the folder, requests go on."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from api_support import make_rag
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings

DEADLINE_S = 30.0


def wait_for(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_served_index_follows_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "first.txt").write_text("Zebras graze on the savanna.\n", encoding="utf-8")
    rag = make_rag(tmp_path / "index")
    app = create_app(rag.settings, rag, api_settings=ApiSettings(), watch=[folder])

    with TestClient(app) as client:

        def sources(query: str) -> set[str]:
            reply = client.get("/v1/search", params={"q": query, "k": 10})
            assert reply.status_code == 200, reply.text
            return {h["source"] for h in reply.json()}

        def listed() -> set[str]:
            return {d["source"] for d in client.get("/v1/documents").json()}

        wait_for(app.state.watcher.ready.is_set, "the watcher")
        assert str(folder / "first.txt") in sources("zebras savanna")  # the first sync

        added = folder / "second.md"
        added.write_text("# Penguins\n\nPenguins swim in cold water.\n", encoding="utf-8")
        wait_for(lambda: str(added) in sources("penguins swim cold"), "the new file")

        added.unlink()
        wait_for(lambda: str(added) not in listed(), "the deletion")
        assert str(added) not in sources("penguins swim cold")
        # The documents added through the library before the server started are kept.
        assert len(listed()) == 3
