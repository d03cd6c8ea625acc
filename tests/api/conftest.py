"""Fixtures for the HTTP service: apps built with fakes, an in-process uvicorn, a real server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from rag import Rag, Settings
from rag.testing import CannedGenerator, HashEmbedder

QUESTION = "When did the US announce leaving Iraq?"
ANSWER = "The US announced leaving Iraq in September 2024."
IRAQ = (
    "US leaves Iraq\n\n"
    "The US announced leaving Iraq in September 2024. "
    "The withdrawal ends the coalition mission in Iraq by 2026."
)
BANANAS = "Bananas are yellow fruit grown in tropical places. They are rich in potassium."
KEY = "test-key-5f2c"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_rag_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings in tests come from arguments, never from the developer's environment."""
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)


def make_rag(folder: Path, generator: Any = None, *, documents: bool = True) -> Rag:
    settings = Settings(index=folder, llm="none")
    rag = Rag.open(
        folder,
        settings,
        create=True,
        embedder=HashEmbedder(),
        generator=generator or CannedGenerator(f'{{"answer": "{ANSWER}"}}'),
    )
    if documents:
        rag.add_text(IRAQ, "US leaves Iraq")
        rag.add_text(BANANAS, "Bananas")
    return rag


AppFactory = Callable[..., FastAPI]


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """An app served by uvicorn on a loopback port, in a thread of this process."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the in-process server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live(make_app: AppFactory) -> Callable[..., LiveServer]:
    """``with live(generator=..., **api_settings) as server:`` -> a real HTTP server over fakes."""

    def start(generator: Any = None, **api: Any) -> LiveServer:
        return LiveServer(make_app(generator, **api))

    return start


# -- a real `rag serve` ----------------------------------------------------------------------


@dataclass
class RealServer:
    url: str
    key: str
    index: Path
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=kwargs.pop("timeout", 180),
            **kwargs,
        )

    def wait_idle(self, timeout: float = 180) -> None:
        """Until no answer is running or waiting."""
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while time.monotonic() < deadline:
                if c.get("/readyz").json()["queue"]["pending"] == 0:
                    return
                time.sleep(0.2)
        raise TimeoutError("the server's answer queue did not drain")


def _rag_bin() -> str:
    return str(Path(sys.executable).with_name("rag"))


@pytest.fixture(scope="session")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    """`rag serve --llm smollm2-135m` over the seeds, with a key and a queue of one."""
    folder = tmp_path_factory.mktemp("served")
    index = folder / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    subprocess.run(
        [_rag_bin(), "index", str(REPO / "seeds"), "--index", str(index)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    port = free_port()
    log = folder / "server.log"
    env.update({"RAG_API_KEY": KEY, "RAG_QUEUE_SIZE": "1"})
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [_rag_bin(), "serve", "--index", str(index), "--port", str(port),
             "--llm", "smollm2-135m"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = RealServer(f"http://127.0.0.1:{port}", KEY, index, process, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: RealServer, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    with server.client(timeout=5) as c:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"rag serve exited:\n{server.log.read_text()[-3000:]}")
            try:
                if c.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
    raise TimeoutError(f"rag serve not ready:\n{server.log.read_text()[-3000:]}")
