from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from milvus_server import MilvusServer, start_milvus_server

from rag import Rag, Settings
from rag.testing import CannedGenerator, HashEmbedder

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SAMPLE_QUESTION = "When did the US announce leaving Iraq?"

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "iraq.txt").write_text(
        "US Leaves Iraq\n\nIn September 2024, the United States announced the end of its "
        "mission in Iraq. About 2,500 troops were still there.\n\nThe decision surprised "
        "analysts. Officials said the withdrawal would take two years.\n",
        encoding="utf-8",
    )
    (folder / "bread.md").write_text(
        "# Baking bread\n\nKnead the dough for ten minutes. Bake it at 230 degrees for "
        "35 minutes until the crust is brown.\n",
        encoding="utf-8",
    )
    return folder


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(index=tmp_path / "index", llm="none", chunk_size=200, chunk_overlap=60)


@pytest.fixture
def fake_rag(settings: Settings, corpus: Path) -> Rag:
    rag = Rag.open(settings.index, settings, create=True, embedder=HashEmbedder())
    rag.add([corpus])
    return rag


@pytest.fixture
def canned() -> CannedGenerator:
    return CannedGenerator('{"answer": "The US announced it in September 2024."}')


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    """One Milvus gRPC server (``milvus-lite server``) on a loopback port for the session."""
    try:
        server = start_milvus_server(tmp_path_factory.mktemp("milvus") / "data")
    except RuntimeError as exc:
        pytest.skip(f"no Milvus server to test milvus://host:port against: {exc}")
    try:
        yield server
    finally:
        server.stop()
