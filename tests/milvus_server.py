"""A Milvus gRPC server on a loopback port, for the tests of ``milvus://host:port``.

The server is Milvus Lite's (``milvus-lite server``, from the ``milvus-lite`` package the
project already installs): the same gRPC protocol pymilvus speaks to a Milvus standalone,
over TCP, shared by any number of processes. It is not Milvus standalone (the Go/C++
server, shipped as a container image): docs/deployment.md says why that one does not run
here. Kept out of conftest.py so test modules can import it by a name no other folder uses.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from processes import free_port, stop_process

START_TIMEOUT = 60.0


@dataclass
class MilvusServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def url(self, collection: str | None = None) -> str:
        """``milvus://host:port?collection=NAME``; a fresh collection name when none is given."""
        name = collection or f"t_{uuid.uuid4().hex[:12]}"
        return f"milvus://{self.host}:{self.port}?collection={name}"

    def stop(self) -> None:
        stop_process(self.process)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_milvus_server(data_dir: Path) -> MilvusServer:
    """Start ``milvus-lite server`` over ``data_dir``; raise RuntimeError saying why it did not."""
    exe = Path(sys.executable).with_name("milvus-lite")
    if not exe.exists():
        raise RuntimeError(f"no {exe} (the milvus-lite package is not installed)")
    port = free_port()
    log = data_dir.with_suffix(".log")
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(exe), "server", "--data-dir", str(data_dir), "--host", "127.0.0.1",
             "--port", str(port), "--max-workers", "16"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = MilvusServer("127.0.0.1", port, process, log)
    deadline = time.monotonic() + START_TIMEOUT
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"milvus-lite server did not start on port {port}: {tail}")
        time.sleep(0.1)
    return server
