"""``rag serve --watch FOLDER``: the served index follows folders (see :mod:`rag.watch`).

The watcher runs on its own thread once the models are loaded. Each burst is written
under the service's write lock, after the service's reload path has brought the
library up to date (:meth:`Service.fresh`), like an upload. Requests never wait for
it: they read the generation they have until the write swaps the new one in whole.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from api.service import Service
from rag.watch import Burst, watch

log = logging.getLogger("rag.api")

_LOAD_POLL_S = 0.2
_STOP_WAIT_S = 60.0  # how long shutdown waits for a burst under way to be committed


class FolderWatcher:
    """A thread that keeps ``service``'s index in step with ``folders`` until :meth:`stop`."""

    def __init__(self, service: Service, folders: Sequence[Path]) -> None:
        self.service = service
        self.folders = list(folders)
        self.ready = threading.Event()  # watching, the first synchronisation written
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rag-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop after the burst under way is committed (or abandon it after a minute:
        a write that is not committed leaves the previous generation live)."""
        self._stop.set()
        self._thread.join(_STOP_WAIT_S)
        if self._thread.is_alive():
            log.warning("watch: a write is still running; leaving it unfinished")

    def _run(self) -> None:
        service = self.service
        while not service.ready:  # the models load on another thread
            if service.load_error is not None or self._stop.wait(_LOAD_POLL_S):
                return
        try:
            watch(
                service.rag, self.folders, stop=self._stop, writing=self._writing,
                on_burst=_log_burst, on_ready=self._ready,
                on_skip=lambda msg: log.warning("watch: skipped %s", msg),
                on_error=lambda msg: log.error("watch: %s (will try again)", msg),
            )  # fmt: skip
        except Exception as exc:  # a folder removed before the watch began, say
            log.error("watch: stopped: %s", str(exc).splitlines()[0] if str(exc) else exc)

    def _ready(self) -> None:
        log.info("watching %s", ", ".join(str(f) for f in self.folders))
        self.ready.set()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        with self.service.write_lock:
            self.service.fresh()
            yield


def _log_burst(burst: Burst) -> None:
    log.info("watch: %s", burst.line())
