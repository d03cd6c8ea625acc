"""RemoteGenerator: unit tests on httpx.MockTransport, then a real OpenAI-compatible server.

The integration tests start llama-cpp-python's own server (``python -m llama_cpp.server``,
extra ``llama-cpp-python[server]``) with the packaged SmolLM2 on a free loopback port.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from processes import free_port

from rag.errors import GenerationError
from rag.generation import Generator
from rag.remote import RemoteGenerator
from rag.testing import GeneratorContract

URL = "http://llm.test/v1"
SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
MESSAGES = [{"role": "user", "content": "When did the US announce leaving Iraq?"}]
ROOT = Path(__file__).resolve().parent.parent
SAMPLE_QUESTION = "When did the US announce leaving Iraq?"

Handler = Callable[[httpx.Request], httpx.Response]


def completion(content: str) -> httpx.Response:
    return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})


def text_reply(text: str) -> Handler:
    return lambda request: httpx.Response(200, text=text)


def sse(*contents: str, finish: bool = True, done: bool = True) -> bytes:
    """An SSE body as llama-cpp-python streams it (with a keep-alive comment)."""
    chunks: list[dict[str, Any]] = [
        {"choices": [{"delta": {"role": "assistant"}, "finish_reason": None}]}
    ]
    chunks += [{"choices": [{"delta": {"content": c}, "finish_reason": None}]} for c in contents]
    if finish:
        chunks.append({"choices": [{"delta": {}, "finish_reason": "stop"}]})
    body = "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks)
    return (": ping\r\n\r\n" + body + ("data: [DONE]\r\n\r\n" if done else "")).encode()


class Server:
    """A MockTransport handler that records the request bodies it receives."""

    def __init__(self, *replies: Handler) -> None:
        self.replies = list(replies)
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url == f"{URL}/chat/completions"
        self.bodies.append(json.loads(request.content))
        reply = self.replies[min(len(self.bodies), len(self.replies)) - 1]
        return reply(request)


@pytest.fixture
def make() -> Iterator[Callable[..., RemoteGenerator]]:
    made: list[RemoteGenerator] = []

    def factory(server: Server, **kwargs: Any) -> RemoteGenerator:
        kwargs.setdefault("backoff", 0.0)
        transport = httpx.MockTransport(server)
        gen = RemoteGenerator(URL, model="smollm2-135m", transport=transport, **kwargs)
        made.append(gen)
        return gen

    yield factory
    for gen in made:
        gen.close()


# -- unit tests ---------------------------------------------------------------------------


def test_non_streaming_sends_schema(make: Callable[..., RemoteGenerator]) -> None:
    reply = '{"answer": "In September 2024."}'
    server = Server(lambda r: completion(reply))
    gen = make(server)
    assert gen.generate(MESSAGES, schema=SCHEMA, max_tokens=50) == reply
    body = server.bodies[0]
    assert body["model"] == "smollm2-135m" and body["messages"] == MESSAGES
    assert body["temperature"] == 0 and body["max_tokens"] == 50 and body["stream"] is False
    assert body["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert "smollm2-135m" in gen.name and URL in gen.name


def test_streaming_passes_each_piece(make: Callable[..., RemoteGenerator]) -> None:
    server = Server(lambda r: httpx.Response(200, content=sse('{"answer"', ': "Sept', 'ember"}')))
    pieces: list[str] = []
    text = make(server).generate(MESSAGES, schema=SCHEMA, on_token=pieces.append)
    assert pieces == ['{"answer"', ': "Sept', 'ember"}']
    assert text == '{"answer": "September"}'
    assert server.bodies[0]["stream"] is True


def test_no_schema_sends_no_response_format(make: Callable[..., RemoteGenerator]) -> None:
    server = Server(lambda r: completion("hello"))
    assert make(server).generate(MESSAGES) == "hello"
    assert "response_format" not in server.bodies[0]


def test_retries_a_503_then_succeeds(make: Callable[..., RemoteGenerator]) -> None:
    server = Server(lambda r: httpx.Response(503, text="loading model"), lambda r: completion("ok"))
    assert make(server).generate(MESSAGES) == "ok"
    assert len(server.bodies) == 2


def test_gives_up_after_bounded_retries(make: Callable[..., RemoteGenerator]) -> None:
    server = Server(lambda r: httpx.Response(500, json={"error": {"message": "out of\nmemory"}}))
    with pytest.raises(GenerationError) as err:
        make(server, retries=3).generate(MESSAGES)
    assert len(server.bodies) == 3
    assert str(err.value) == f"the LLM server at {URL} failed: HTTP 500: out of memory"


def test_backoff_grows_exponentially(
    make: Callable[..., RemoteGenerator], monkeypatch: pytest.MonkeyPatch
) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr("rag.remote.time.sleep", sleeps.append)
    server = Server(lambda r: httpx.Response(502))
    with pytest.raises(GenerationError):
        make(server, retries=4, backoff=0.5).generate(MESSAGES)
    assert sleeps == [0.5, 1.0, 2.0]


def test_response_format_falls_back_on_400_and_is_remembered(
    make: Callable[..., RemoteGenerator],
) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        fmt = json.loads(request.content).get("response_format")
        if fmt and fmt["type"] == "json_object":
            return httpx.Response(400, json={"error": {"message": "'schema' was unexpected"}})
        return completion('{"answer": "x"}')

    server = Server(reply)
    gen = make(server)
    assert gen.generate(MESSAGES, schema=SCHEMA) == '{"answer": "x"}'
    assert gen.generate(MESSAGES, schema=SCHEMA) == '{"answer": "x"}'
    kinds = [b["response_format"]["type"] for b in server.bodies]
    assert kinds == ["json_object", "json_schema", "json_schema"]
    fallback = server.bodies[1]["response_format"]["json_schema"]
    assert fallback == {"name": "answer", "schema": SCHEMA}


def test_falls_back_to_no_response_format(make: Callable[..., RemoteGenerator]) -> None:
    def reply(request: httpx.Request) -> httpx.Response:
        if "response_format" in json.loads(request.content):
            return httpx.Response(422, json={"detail": "unsupported response_format"})
        return completion('{"answer": "x"}')

    server = Server(reply)
    gen = make(server)
    gen.generate(MESSAGES, schema=SCHEMA)
    gen.generate(MESSAGES, schema=SCHEMA)
    assert [b.get("response_format", {}).get("type") for b in server.bodies] == [
        "json_object", "json_schema", None, None,
    ]  # fmt: skip


def test_a_4xx_for_every_form_is_reported_once(make: Callable[..., RemoteGenerator]) -> None:
    server = Server(lambda r: httpx.Response(400, json={"error": "prompt too long"}))
    gen = make(server)
    with pytest.raises(GenerationError, match="rejected the request: HTTP 400: prompt too long"):
        gen.generate(MESSAGES, schema=SCHEMA)
    assert len(server.bodies) == 3  # one per form, no retries
    with pytest.raises(GenerationError, match="HTTP 400"):
        gen.generate(MESSAGES)
    assert "response_format" not in server.bodies[-1]


def test_unreachable_server_is_one_clear_line() -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    gen = RemoteGenerator(url, timeout=2, retries=2, backoff=0.0)
    try:
        with pytest.raises(GenerationError) as err:
            gen.generate(MESSAGES, on_token=lambda piece: None)
    finally:
        gen.close()
    message = str(err.value)
    assert message.startswith(f"cannot reach the LLM server at {url}: ")
    assert "\n" not in message


def test_connection_errors_are_retried(make: Callable[..., RemoteGenerator]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    server = Server(refuse, refuse, lambda r: completion("ok"))
    assert make(server).generate(MESSAGES) == "ok"
    assert len(server.bodies) == 3


def _dies_after(*contents: str) -> Handler:
    def reply(request: httpx.Request) -> httpx.Response:
        def body() -> Iterator[bytes]:
            yield sse(*contents, finish=False, done=False)
            raise httpx.RemoteProtocolError("peer closed connection", request=request)

        return httpx.Response(200, content=body())

    return reply


def test_death_mid_stream_is_not_retried(make: Callable[..., RemoteGenerator]) -> None:
    server = Server(_dies_after("one", " two", " three"))
    pieces: list[str] = []
    with pytest.raises(GenerationError, match=f"the LLM server at {URL} died mid-stream"):
        make(server).generate(MESSAGES, on_token=pieces.append)
    assert pieces and len(server.bodies) == 1


def test_death_before_any_token_is_retried(make: Callable[..., RemoteGenerator]) -> None:
    server = Server(_dies_after(), lambda r: httpx.Response(200, content=sse("ok")))
    pieces: list[str] = []
    assert make(server).generate(MESSAGES, on_token=pieces.append) == "ok"
    assert pieces == ["ok"] and len(server.bodies) == 2


def test_stream_cut_short_is_an_error(make: Callable[..., RemoteGenerator]) -> None:
    server = Server(lambda r: httpx.Response(200, content=sse("a", "b", finish=False, done=False)))
    with pytest.raises(GenerationError, match="ended the stream early"):
        make(server).generate(MESSAGES, on_token=lambda piece: None)


def test_error_event_in_stream(make: Callable[..., RemoteGenerator]) -> None:
    body = sse("a", finish=False, done=False) + b'data: {"error": {"message": "OOM"}}\n\n'
    server = Server(lambda r: httpx.Response(200, content=body))
    with pytest.raises(GenerationError, match=f"the LLM server at {URL} failed: OOM"):
        make(server).generate(MESSAGES, on_token=lambda piece: None)


def test_silent_server_times_out(make: Callable[..., RemoteGenerator]) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    server = Server(hang)
    with pytest.raises(GenerationError, match="sent nothing for 7 s"):
        make(server, timeout=7).generate(MESSAGES)
    assert len(server.bodies) == 1


def test_garbage_response_is_an_error(make: Callable[..., RemoteGenerator]) -> None:
    for reply in ("<html>proxy login</html>", '{"object": "list"}', '{"choices": []}'):
        server = Server(text_reply(reply))
        with pytest.raises(GenerationError, match="not a chat completion"):
            make(server).generate(MESSAGES)


# -- a real OpenAI-compatible server -------------------------------------------------------


class LlamaServer:
    """``python -m llama_cpp.server`` with a packaged model on a free loopback port."""

    def __init__(self, model: str, log: Path) -> None:
        from rag.models import resolve_llm

        path = resolve_llm(model, Path.home() / ".cache" / "rag")
        port = free_port()
        self.model = model
        self.url = f"http://127.0.0.1:{port}/v1"
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        # --logits_all false and a passive OpenMP wait: see docs/deployment.md
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(path),
             "--n_ctx", "2048", "--n_threads", "2", "--logits_all", "false",
             "--port", str(port), "--host", "127.0.0.1"],
            stdout=self._log_file, stderr=subprocess.STDOUT,
            env=os.environ | {"OMP_WAIT_POLICY": "PASSIVE"},
        )  # fmt: skip

    def wait_ready(self, limit: float = 90.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"LLM server exited: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        pytest.fail(f"LLM server not ready after {limit:g} s")

    def requests(self) -> int:
        return self.log.read_text(errors="replace").count("POST /v1/chat/completions")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()
        self._log_file.close()


@contextlib.contextmanager
def running(model: str, folder: Path) -> Iterator[LlamaServer]:
    missing = [m for m in ("sse_starlette", "starlette_context") if not importlib.util.find_spec(m)]
    if missing:
        pytest.skip(f"needs llama-cpp-python[server] ({', '.join(missing)} missing)")
    server = LlamaServer(model, folder / f"{model}-server.log")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


# maxLength makes the grammar close the JSON well within max_tokens
SHORT = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 40}}}
SHORT_SCHEMA = SHORT | {"required": ["answer"]}


@pytest.fixture(scope="module")
def smollm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    with running("smollm2-135m", tmp_path_factory.mktemp("llm")) as server:
        yield server


@pytest.fixture
def remote(smollm_server: LlamaServer) -> Iterator[RemoteGenerator]:
    gen = RemoteGenerator(smollm_server.url, model="smollm2-135m", timeout=120)
    yield gen
    gen.close()


@pytest.mark.integration
def test_real_server_answers_with_schema(remote: RemoteGenerator) -> None:
    text = remote.generate(MESSAGES, schema=SHORT_SCHEMA, max_tokens=48)
    assert isinstance(json.loads(text)["answer"], str)


@pytest.mark.integration
def test_real_server_streams_with_schema(remote: RemoteGenerator) -> None:
    pieces: list[str] = []
    text = remote.generate(MESSAGES, schema=SHORT_SCHEMA, max_tokens=48, on_token=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == text
    assert isinstance(json.loads(text)["answer"], str)


@pytest.mark.integration
class TestRemoteGeneratorContract(GeneratorContract):
    """The contract every generator keeps, through a real OpenAI-compatible server."""

    @pytest.fixture
    def generator(self, remote: RemoteGenerator) -> Generator:
        return remote


@pytest.mark.integration
def test_rag_ask_through_the_server(tmp_path: Path) -> None:
    # SmolLM2 answers this with a made-up date, which the answer path rightly refuses
    # (locally too); Qwen2.5-Coder-0.5B answers it, so the citation check has work to do.
    rag = Path(sys.executable).with_name("rag")
    index = tmp_path / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    subprocess.run(
        [str(rag), "index", str(ROOT / "seeds"), "--index", str(index)],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    with running("qwen2.5-coder-0.5b", tmp_path) as server:
        env |= {"RAG_LLM_URL": server.url, "RAG_LLM": server.model, "RAG_LLM_TIMEOUT": "120"}
        proc = subprocess.run(
            [str(rag), "ask", SAMPLE_QUESTION, "--index", str(index), "--json"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert server.requests() == 1  # the answer was generated by the server
    answer = json.loads(proc.stdout)
    assert answer["answerable"] is True and answer["citations"]
    assert "2024" in answer["answer"]
    for c in answer["citations"]:
        assert Path(c["source"]).read_text(encoding="utf-8")[c["start"] : c["end"]] == c["quote"]


@pytest.mark.integration
def test_server_killed_mid_stream(tmp_path: Path) -> None:
    pieces: list[str] = []
    story = [{"role": "user", "content": "Write a very long story about a cat and a ship."}]
    with running("smollm2-135m", tmp_path) as server:
        gen = RemoteGenerator(server.url, timeout=10, backoff=0.0)

        def kill_after_three(piece: str) -> None:
            pieces.append(piece)
            if len(pieces) == 3:
                server.proc.kill()

        t0 = time.monotonic()
        try:
            with pytest.raises(GenerationError) as err:
                gen.generate(story, max_tokens=400, on_token=kill_after_three)
        finally:
            gen.close()
        assert time.monotonic() - t0 < 30
    assert str(err.value).startswith(f"the LLM server at {server.url} died mid-stream: ")
    assert len(pieces) >= 3
