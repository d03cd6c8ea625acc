"""Fixtures for the HTTP service: apps built with fakes, an in-process uvicorn, a real server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import AppFactory, LiveServer, RealServer, make_rag, start_real_server
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings


@pytest.fixture(autouse=True)
def _no_rag_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in tests come from arguments, never from the developer's environment."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)


@pytest.fixture
def make_app(tmp_path: Path) -> AppFactory:
    """``make_app(generator=..., documents=True, **api_settings)`` -> app over fakes."""

    def make(generator: Any = None, *, documents: bool = True, **api: Any) -> FastAPI:
        rag = make_rag(tmp_path / "index", generator, documents=documents)
        return create_app(rag.settings, rag, api_settings=ApiSettings(**api))

    return make


@pytest.fixture
def client(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app()) as c:
        yield c


@pytest.fixture
def live(make_app: AppFactory) -> Callable[..., LiveServer]:
    """``with live(generator=..., **api_settings) as server:`` -> a real HTTP server over fakes."""

    def start(generator: Any = None, **api: Any) -> LiveServer:
        return LiveServer(make_app(generator, **api))

    return start


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """`rag serve --llm qwen2.5-coder-0.5b` over the seeds, with a key and a queue of one."""
    server = start_real_server(tmp_path_factory.mktemp("served"), RAG_QUEUE_SIZE="1")
    try:
        yield server
    finally:
        server.stop()
