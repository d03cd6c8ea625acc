"""A flood of half-sent requests against `rag serve`, and against plain uvicorn as before.

Indexes the seeds into a temporary folder, then for each of two servers over it:

* **plain**: the app under ``uvicorn.run`` with the settings `rag serve` used before
  (no header deadline, no connection cap) - the baseline, started in this run;
* **rag serve**: as it runs now (``api/serving.py``).

holder processes open ``--connections`` connections that each send half a request
and nothing more (split so no process needs more than 10,000 descriptors), then one
client times ``/healthz`` and ``/v1/search`` 10 times each (30 s at most each).
Reported per server: the slowest of those requests, how many held connections the
server still had open right after the flood and ``--wait`` seconds later, and the
lines and bytes its log grew by ("socket.accept() out of system resource" apart).

    .venv/bin/python bench/bench_slow_clients.py                  # 22,000 connections
    .venv/bin/python bench/bench_slow_clients.py --connections 5000

Needs ``ulimit -n`` above 10,000 for the holders. Benchmarks report; they never assert.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
RAG = str(Path(sys.executable).with_name("rag"))
PER_HOLDER = 10_000
ACCEPT_FAILED = "out of system resource"
TIMEOUT = 30.0  # seconds a request may take before it counts as not answered

PLAIN = """
import sys, uvicorn
from api.app import create_app
from rag import Settings
index, port = sys.argv[1], int(sys.argv[2])
uvicorn.run(create_app(Settings(index=index, llm="none")), host="127.0.0.1", port=port,
            log_level="info", timeout_graceful_shutdown=5)
"""

HOLD = """
import resource, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for _ in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nX-Slow: ")
        held.append(s)
    except OSError:
        pass
print(len(held), flush=True)
for _ in range(2):
    sys.stdin.readline()  # the parent says when to count
    alive = 0
    for s in held:
        s.setblocking(False)
        try:
            alive += s.recv(1) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    print(alive, flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(cmd: list[str], log: Path, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise TimeoutError(log.read_text()[-2000:])


def count(holders: list[subprocess.Popen[str]]) -> int:
    """Connections the holders still see open."""
    for h in holders:
        assert h.stdin is not None
        h.stdin.write("\n")
        h.stdin.flush()
    return sum(int(h.stdout.readline()) for h in holders if h.stdout)


def flood(name: str, cmd: list[str], log: Path, port: int, connections: int, wait: float) -> None:
    server = start(cmd, log, port)
    size0 = log.stat().st_size
    try:
        holders = []
        left = connections
        while left > 0:
            n = min(left, PER_HOLDER)
            left -= n
            holders.append(subprocess.Popen(
                [sys.executable, "-c", HOLD, str(port), str(n)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            ))  # fmt: skip
        t0 = time.perf_counter()
        opened = sum(int(h.stdout.readline()) for h in holders if h.stdout)
        flood_s = time.perf_counter() - t0
        slowest, codes = 0.0, set()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=TIMEOUT) as c:
            for _ in range(10):
                for path, params in (("/healthz", {}), ("/v1/search", {"q": "Iraq"})):
                    t = time.perf_counter()
                    try:
                        codes.add(str(c.get(path, params=params).status_code))
                    except httpx.TransportError as exc:
                        codes.add(type(exc).__name__)
                    slowest = max(slowest, time.perf_counter() - t)
                if codes - {"200"} and time.perf_counter() - t0 > 3 * TIMEOUT:
                    break  # the server has stopped answering: no need to wait ten times
        after = count(holders)
        time.sleep(wait)
        later = count(holders)
        for h in holders:
            h.wait(timeout=60)
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_bytes()[size0:].decode("utf-8", "replace")
    lines = text.count("\n")
    accept = text.count(ACCEPT_FAILED)
    print(f"{name:>9}: {opened} held open in {flood_s:.1f} s; slowest /healthz or search "
          f"{slowest:.2f} s (codes {sorted(codes)}); still open: {after} after the flood, "
          f"{later} {wait:.0f} s later; log +{lines} lines, +{len(text) / 1e6:.2f} MB, "
          f"{accept} accept failures")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=22_000)
    ap.add_argument("--wait", type=float, default=12.0, help="seconds before counting again")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(f"ulimit -n: soft {soft}, hard {hard}; load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        subprocess.run([RAG, "index", str(REPO / "seeds"), "--index", str(index)],
                       check=True, env=env, capture_output=True)  # fmt: skip
        port = free_port()
        flood("plain", [sys.executable, "-c", PLAIN, str(index), str(port)],
              Path(tmp) / "plain.log", port, args.connections, args.wait)  # fmt: skip
        port = free_port()
        flood("rag serve", [RAG, "serve", "--index", str(index), "--port", str(port), "--no-llm"],
              Path(tmp) / "serve.log", port, args.connections, args.wait)  # fmt: skip


if __name__ == "__main__":
    main()
