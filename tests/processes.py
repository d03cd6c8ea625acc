"""Child processes of the tests: a free port to give one, and stopping one for good.

Shared by the real ``rag serve`` servers (tests/api/api_support.py) and the Milvus
server fixture (tests/milvus_server.py).
"""

from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Terminate, wait up to 20 s, then kill."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
