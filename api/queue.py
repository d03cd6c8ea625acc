"""A bounded queue that runs answers one at a time (llama.cpp is not thread-safe).

One answer generates; up to ``max_waiting`` wait behind it. A submission beyond
that fails at once with :class:`QueueFullError`, which the service turns into
503 with a ``Retry-After`` estimated from recent answer times.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


class QueueFullError(Exception):
    """Every slot is taken; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the answer queue is full; retry in {retry_after} s")
        self.retry_after = retry_after


class GenerationQueue:
    """Runs submitted callables on a single worker thread, refusing work beyond a bound."""

    def __init__(self, max_waiting: int, *, initial_seconds: float = 2.0) -> None:
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-generate")
        self._lock = threading.Lock()
        self._pending = 0
        self._seconds = initial_seconds  # moving average of one job's duration
        self.completed = 0
        self.rejected = 0

    @property
    def capacity(self) -> int:
        return 1 + self.max_waiting

    @property
    def pending(self) -> int:
        """Jobs running or waiting."""
        return self._pending

    def retry_after(self) -> int:
        return max(1, min(120, math.ceil(self._seconds * max(self._pending, 1))))

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue ``fn``; raise :class:`QueueFullError` when every slot is taken."""
        with self._lock:
            if self._pending >= self.capacity:
                self.rejected += 1
                raise QueueFullError(self.retry_after())
            self._pending += 1
        try:
            future = self._executor.submit(self._timed, fn)
        except RuntimeError:  # shut down
            self._release(None)
            raise
        future.add_done_callback(self._release)
        return future

    def _timed(self, fn: Callable[[], T]) -> T:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            elapsed = time.perf_counter() - t0
            with self._lock:
                self._seconds = 0.7 * self._seconds + 0.3 * elapsed

    def _release(self, _future: Future[T] | None) -> None:
        with self._lock:
            self._pending -= 1
            self.completed += 1

    def shutdown(self) -> None:
        """Drop waiting jobs; the running one finishes (or stops at its next token)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
