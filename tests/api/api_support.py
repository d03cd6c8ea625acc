"""Shared helpers of the HTTP tests: sample texts, apps over fakes, servers on loopback ports.

Kept out of conftest.py so test modules can import them by a name no other folder uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from processes import free_port, stop_process

from api.serving import server_config
from api.settings import ApiSettings
from rag import Rag, Settings
from rag.testing import CannedGenerator, HashEmbedder

AppFactory = Callable[..., FastAPI]

QUESTION = "When did the US announce leaving Iraq?"
ANSWER = "The US announced leaving Iraq in September 2024."
IRAQ = (
    "US leaves Iraq\n\n"
    "The US announced leaving Iraq in September 2024. "
    "The withdrawal ends the coalition mission in Iraq by 2026."
)
BANANAS = "Bananas are yellow fruit grown in tropical places. They are rich in potassium."
KEY = "test-key-5f2c"
# The smallest packaged model that answers the seeds' questions: SmolLM2-135M mostly
# replies NOT FOUND there, which the library (rightly) turns into an abstention.
TEST_LLM = "qwen2.5-coder-0.5b"
REPO = Path(__file__).resolve().parents[2]


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


class LiveServer:
    """An app served by uvicorn on a loopback port, in a thread of this process."""

    def __init__(self, app: FastAPI, *, api: ApiSettings | None = None) -> None:
        """With ``api``, uvicorn runs with its timeouts and limits, as `rag serve` does."""
        self.port = free_port()
        config = (
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
            if api is None
            else server_config(app, api, host="127.0.0.1", port=self.port, log_level="warning")
        )
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

    def stop(self) -> None:
        stop_process(self.process)


def rag_bin() -> str:
    return str(Path(sys.executable).with_name("rag"))


def wait_ready(server: RealServer, timeout: float = 300, *, deadline: float | None = None) -> None:
    """Wait until ``server`` answers /readyz (by ``deadline``, if given, a
    ``time.monotonic()`` value shared by several servers)."""
    if deadline is None:
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


def start_real_server(folder: Path, *, llm: str = TEST_LLM, **env_extra: str) -> RealServer:
    """Index the seeds into ``folder/index`` and start `rag serve` over it; wait until ready."""
    index = folder / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    subprocess.run(
        [rag_bin(), "index", str(REPO / "seeds"), "--index", str(index)],
        check=True, env=env, capture_output=True, timeout=300,
    )  # fmt: skip
    port = free_port()
    log = folder / "server.log"
    env.update({"RAG_API_KEY": KEY, **env_extra})
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [rag_bin(), "serve", "--index", str(index), "--port", str(port), "--llm", llm],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = RealServer(f"http://127.0.0.1:{port}", KEY, index, process, log)
    try:
        wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server
