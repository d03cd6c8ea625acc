"""What one running service holds: the library, the answer queue, and its settings.

Built in the app's lifespan and kept on ``app.state.service``; handlers get it
through :func:`get_service`. Models load on a worker thread so ``/healthz``
answers at once and ``/readyz`` turns ready when they are in memory.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from api.queue import GenerationQueue
from api.settings import ApiSettings
from rag import IndexCorruptError, Rag, RagError, Settings

log = logging.getLogger("rag.api")


class Service:
    """The state shared by every request of one app."""

    def __init__(self, settings: Settings, api_settings: ApiSettings) -> None:
        self.settings = settings
        self.api = api_settings
        self.queue = GenerationQueue(api_settings.queue_size)
        self.started = int(time.time())
        self.write_lock = threading.Lock()
        self.load_error: str | None = None
        self._load_error_type = "not_ready"  # index_corrupt: a damaged index (rag check)
        self._rag: Rag | None = None
        self._reload_lock = threading.Lock()
        self._checked_at = -float("inf")
        self._last_problem: str | None = None

    # -- lifecycle -----------------------------------------------------------------------

    def load(self, rag: Rag | None = None) -> None:
        """Open the index (creating an empty one) and load the models; runs once."""
        t0 = time.perf_counter()
        try:
            if rag is None:
                rag = Rag.open(self.settings.index, self.settings, create=True)
            rag.warm_up()
        except RagError as exc:
            self.load_error = str(exc)
            if isinstance(exc, IndexCorruptError):
                self._load_error_type = "index_corrupt"
            log.error("cannot start: %s", exc)
            return
        self._rag = rag
        log.info(
            "ready in %.1f s: index %s, %d documents, llm %s",
            time.perf_counter() - t0, rag.path, _count(rag), self.settings.llm,
        )  # fmt: skip

    def close(self) -> None:
        self.queue.shutdown()

    @property
    def ready(self) -> bool:
        return self._rag is not None

    @property
    def uploads(self) -> Path:
        return self.rag.path / "uploads"

    # -- access --------------------------------------------------------------------------

    @property
    def rag(self) -> Rag:
        """The library, or 503 while models load (or when they failed to)."""
        rag = self._rag
        if rag is None:
            if self.load_error is not None:
                raise ApiError(503, f"the service failed to start: {self.load_error}",
                               type=self._load_error_type)  # fmt: skip
            raise ApiError(503, "the models are still loading", type="not_ready",
                           headers={"Retry-After": "5"})  # fmt: skip
        return rag

    def reader(self) -> Rag:
        """The library. When another process has written a newer generation, a worker thread
        loads it and swaps it in whole; until then this and every other request read the
        generation they have, so a reload never holds up the event loop."""
        rag = self.rag
        now = time.monotonic()
        if now - self._checked_at >= self.api.reload_seconds:
            self._checked_at = now
            try:
                stale = rag.stale()  # one small file read
            except RagError as exc:
                self._problem(exc)
                return rag
            if stale and self._reload_lock.acquire(blocking=False):
                threading.Thread(target=self._reload, args=(rag,), name="rag-reload",
                                 daemon=True).start()  # fmt: skip
        return rag

    def fresh(self) -> Rag:
        """The library brought up to date before returning (waiting for a reload under way).

        For writes and deletes, on a worker thread under :attr:`write_lock`, so that a
        document another process has just added is found; errors propagate."""
        rag = self.rag
        with self._reload_lock:
            rag.reload()
        return rag

    def _reload(self, rag: Rag) -> None:
        t0 = time.perf_counter()
        try:
            rag.reload()
        except Exception as exc:  # keep serving the generation we have
            self._problem(exc)
        else:
            self._last_problem = None
            log.info("index reloaded in %.2f s", time.perf_counter() - t0)
        finally:
            self._reload_lock.release()

    def _problem(self, exc: Exception) -> None:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if message != self._last_problem:  # once per problem, not once per request
            self._last_problem = message
            log.warning("could not reload the index (serving the previous one): %s", message)

    # -- limits --------------------------------------------------------------------------

    def check_question(self, question: str, k: int | None) -> tuple[str, int | None]:
        """The stripped question and k, or 400/422 when they break a limit."""
        q = question.strip()
        if not q:
            raise ApiError(400, "the question is empty", type="bad_input")
        limit = self.api.max_question_chars
        if len(q) > limit:
            raise ApiError(422, f"the question is longer than {limit} characters")
        self.check_k(k)
        return q, k

    def check_k(self, k: int | None) -> None:
        if k is not None and not 1 <= k <= self.api.max_k:
            raise ApiError(422, f"k must be between 1 and {self.api.max_k}")


def _count(rag: Rag) -> int:
    try:
        return len(rag.documents())
    except RagError:
        return 0


def get_service(request: Request) -> Service:
    """FastAPI dependency: the service of the app handling ``request``."""
    service: Service = request.app.state.service
    return service


ServiceDep = Annotated[Service, Depends(get_service)]
