"""One ``rag.ask`` call run on the answer queue and watched from the event loop.

The call runs on the queue's worker thread. Its callbacks hand the retrieved
sources and the decoded answer text (through :class:`rag.streaming.AnswerTextStream`,
exactly as ``rag chat`` does) to the event loop. When the client goes away,
:meth:`AskRun.cancel` marks the run; the next callback raises :class:`ClientGone`,
which unwinds llama.cpp's token loop and frees the queue.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import Request

from api.errors import ApiError, from_rag_error
from api.queue import GenerationQueue, QueueFullError
from rag import GenerationError, Rag, RagError
from rag.streaming import AnswerTextStream
from rag.types import Answer, Hit

log = logging.getLogger("rag.api")

POLL_SECONDS = 0.25


class ClientGone(Exception):
    """Raised from a generation callback to stop work nobody will read."""


@dataclass(frozen=True)
class Event:
    """Something the run produced: sources, a piece of answer text, or the end."""

    kind: Literal["sources", "token", "answer", "error"]
    data: Any


class AskRun:
    """An answer in progress. Create it inside the event loop, then :meth:`start` it."""

    def __init__(
        self,
        rag: Rag,
        question: str,
        k: int | None,
        *,
        stream: bool,
        history: Sequence[str] = (),
    ) -> None:
        self.rag = rag
        self.question = question
        self.k = k
        self.stream = stream
        self.history = tuple(history)
        self._cancelled = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._future: asyncio.Future[Answer] | None = None

    def start(self, queue: GenerationQueue) -> None:
        """Take a queue slot, or raise 503 with ``Retry-After`` when none is free."""
        try:
            self._future = asyncio.wrap_future(queue.submit(self._run))
        except QueueFullError as exc:
            raise ApiError(503, str(exc), type="queue_full",
                           headers={"Retry-After": str(exc.retry_after)}) from None  # fmt: skip

    def cancel(self) -> None:
        self._cancelled.set()
        if self._future is not None:
            self._future.cancel()

    # -- the worker thread ---------------------------------------------------------------

    def _run(self) -> Answer:
        if self._cancelled.is_set():
            raise ClientGone()
        text = AnswerTextStream(lambda piece: self._emit("token", piece))

        def on_token(piece: str) -> None:
            if self._cancelled.is_set():
                raise ClientGone()
            if self.stream:
                text.feed(piece)

        def on_sources(hits: list[Hit]) -> None:
            if self._cancelled.is_set():
                raise ClientGone()
            self._emit("sources", hits)

        try:
            return self.rag.ask(
                self.question,
                self.k,
                on_token=on_token,
                on_sources=on_sources,
                history=self.history,
            )
        except GenerationError as exc:
            # A small model can produce output the library cannot parse; the passages
            # still answer, so answer from them rather than fail (see docs/http.md).
            if self._cancelled.is_set():
                raise ClientGone() from None
            log.warning("the LLM failed (%s); answering extractively", exc)
            answer = self.rag.ask(self.question, self.k, use_llm=False, history=self.history)
            answer.mode = "extractive-fallback"
            return answer

    def _emit(self, kind: Literal["sources", "token"], data: Any) -> None:
        self._loop.call_soon_threadsafe(self._events.put_nowait, Event(kind, data))

    # -- the event loop ------------------------------------------------------------------

    async def wait(self, request: Request) -> Answer:
        """The answer; cancels the run if the client disconnects while waiting."""
        future = self._started()
        try:
            while True:
                done, _ = await asyncio.wait({future}, timeout=POLL_SECONDS)
                if done:
                    return self._outcome(future)
                if await request.is_disconnected():
                    raise ApiError(499, "the client closed the request", type="client_closed")
        finally:
            if not future.done():
                self.cancel()

    async def events(self, heartbeat: float = 5.0) -> AsyncIterator[Event | None]:
        """Sources, text pieces, then ``answer`` or ``error``; ``None`` after a silence.

        Closing the iterator (the client went away) cancels the run.
        """
        future = self._started()
        try:
            while True:
                getter = asyncio.ensure_future(self._events.get())
                waiting: set[asyncio.Future[Any]] = {getter, future}
                try:
                    done, _ = await asyncio.wait(
                        waiting, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
                    )
                except BaseException:  # cancelled: the client went away
                    getter.cancel()
                    raise
                if getter in done:
                    yield getter.result()
                    continue
                getter.cancel()
                if future in done:
                    break
                yield None
            # Callbacks were scheduled before the result: drain what they queued.
            while not self._events.empty():
                yield self._events.get_nowait()
            try:
                yield Event("answer", self._outcome(future))
            except ApiError as exc:
                yield Event("error", exc)
        finally:
            if not future.done():
                self.cancel()

    def _started(self) -> asyncio.Future[Answer]:
        if self._future is None:
            raise RuntimeError("AskRun.start() was not called")
        return self._future

    @staticmethod
    def _outcome(future: asyncio.Future[Answer]) -> Answer:
        try:
            return future.result()
        except RagError as exc:
            raise from_rag_error(exc) from None
        except (ClientGone, asyncio.CancelledError):
            raise ApiError(499, "the client closed the request", type="client_closed") from None
        except Exception:
            log.exception("answering failed")
            raise ApiError(500, "internal error (see the server log)") from None


def sse(event: str, data: Any) -> str:
    """One Server-Sent Event."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


SSE_HEARTBEAT = ": keep-alive\n\n"
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
