"""A :class:`~rag.generation.Generator` that calls an OpenAI-compatible server over HTTP.

Meant for llama.cpp's ``llama-server``, llama-cpp-python's server (what the tests
run), vLLM or Ollama: it posts to ``{base_url}/chat/completions`` with temperature 0
and streams with SSE when a token callback is given.

Structured output: the answer schema goes out as ``response_format={"type":
"json_object", "schema": ...}`` (llama.cpp, llama-cpp-python). A server that rejects
it with a 4xx gets ``{"type": "json_schema", ...}`` (OpenAI, vLLM), then no
``response_format`` at all; the first form that works is kept for later calls. The
citation check runs on our side whatever the server returns.

Failures: 5xx answers and connection errors are retried with exponential backoff
(``retries`` tries in all), but never once tokens have been passed to the callback.
``timeout`` bounds connecting and each wait for data, so a hung server fails too.
Everything ends as a one-line :class:`~rag.errors.GenerationError`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from rag.errors import GenerationError
from rag.generation import Messages, TokenCallback

FORMATS = ("json_object", "json_schema", None)


class _Retryable(Exception):
    """A failure worth another try (5xx, connection trouble before any token)."""


class _Rejected(Exception):
    """A 4xx answer: the request itself is wrong for this server."""


class RemoteGenerator:
    """Chat completions from an OpenAI-compatible server at ``base_url`` (``.../v1``)."""

    def __init__(
        self,
        base_url: str,
        *,
        model: str = "default",
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/")
        self._model = model
        self._timeout = timeout
        self._retries = max(1, retries)
        self._backoff = backoff
        self._format: str | None = FORMATS[0]
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self._url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers=headers,
            transport=transport,
        )

    @property
    def name(self) -> str:
        return f"{self._model}@{self._url}"

    def close(self) -> None:
        self._client.close()

    def generate(
        self,
        messages: Messages,
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        on_token: TokenCallback | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "stream": on_token is not None,
        }
        kinds = FORMATS[FORMATS.index(self._format) :] if schema is not None else (None,)
        rejected: _Rejected | None = None
        for kind in kinds:
            fmt = _response_format(kind, schema) if schema is not None else None
            try:
                text = self._with_retries(
                    body if fmt is None else {**body, "response_format": fmt}, on_token
                )
            except _Rejected as exc:
                rejected = rejected or exc
                continue
            if schema is not None:
                self._format = kind  # remember the form this server accepts
            return text
        raise GenerationError(f"the LLM server at {self._url} rejected the request: {rejected}")

    def _with_retries(self, body: dict[str, Any], on_token: TokenCallback | None) -> str:
        message = ""
        for attempt in range(self._retries):
            if attempt:
                time.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                return self._once(body, on_token)
            except _Retryable as exc:
                message = str(exc)
        raise GenerationError(message)

    def _once(self, body: dict[str, Any], on_token: TokenCallback | None) -> str:
        pieces: list[str] = []
        try:
            with self._client.stream("POST", "/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    detail = f"HTTP {response.status_code}: {_detail(response)}"
                    if response.status_code >= 500:
                        raise _Retryable(f"the LLM server at {self._url} failed: {detail}")
                    raise _Rejected(detail)
                if on_token is None:
                    return self._parse(response.read(), "message")[0]
                return self._read_stream(response, pieces, on_token)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Retryable(f"cannot reach the LLM server at {self._url}: {_line(exc)}") from None
        except httpx.TimeoutException:
            raise GenerationError(
                f"the LLM server at {self._url} sent nothing for {self._timeout:g} s"
            ) from None
        except httpx.TransportError as exc:
            if pieces:
                raise GenerationError(
                    f"the LLM server at {self._url} died mid-stream: {_line(exc)}"
                ) from None
            raise _Retryable(f"lost the LLM server at {self._url}: {_line(exc)}") from None

    def _read_stream(
        self, response: httpx.Response, pieces: list[str], on_token: TokenCallback
    ) -> str:
        finished = False
        for line in response.iter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, ": ping" comments, event/id fields
            data = line[5:].strip()
            if data == "[DONE]":
                finished = True
                break
            piece, done = self._parse(data, "delta")
            if piece:
                pieces.append(piece)
                on_token(piece)
            finished = finished or done
        if not finished:
            raise GenerationError(f"the LLM server at {self._url} ended the stream early")
        return "".join(pieces)

    def _parse(self, data: str | bytes, key: str) -> tuple[str, bool]:
        """The text of one completion (``key="message"``) or stream chunk (``"delta"``),
        and whether the server said it is finished."""
        try:
            value = json.loads(data)
            if "error" in value:
                raise GenerationError(f"the LLM server at {self._url} failed: {_message(value)}")
            # a completion must have choices; a stream's usage-only chunk has none
            choices = value["choices"] if key == "message" else value.get("choices") or [{}]
            text = (choices[0].get(key) or {}).get("content") or ""
            return str(text), bool(choices[0].get("finish_reason"))
        except (ValueError, TypeError, AttributeError, KeyError, IndexError):
            raise GenerationError(
                f"the LLM server at {self._url} sent a response that is not a chat completion"
            ) from None


def _response_format(kind: str | None, schema: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "json_object":
        return {"type": "json_object", "schema": schema}
    if kind == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    return None


def _detail(response: httpx.Response) -> str:
    """The server's error message, from OpenAI-style JSON or plain text."""
    try:
        return _message(response.json())
    except ValueError:
        return _line(response.text) or response.reason_phrase


def _message(value: object) -> str:
    """``{"error": {"message": m}}``, ``{"error": m}`` or ``{"detail": m}`` as one line."""
    if isinstance(value, dict):
        value = value.get("error", value.get("detail", value))
    if isinstance(value, dict):
        value = value.get("message", value)
    return _line(value)


def _line(value: object, limit: int = 300) -> str:
    """One line of text, shortened: errors must stay readable in a terminal."""
    text = " ".join(str(value).split()) or type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
