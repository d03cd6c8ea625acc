"""How much one `rag serve` sustains on this machine: searches/s and asks/min.

Starts `rag serve` on a loopback port over an index (by default the seeds,
indexed into a temporary folder), then:

1. searches: ``--clients`` concurrent clients (default 20) send ``GET /v1/search``
   for ``--search-seconds`` (or ``--max-searches`` in all); reports searches/s
   and latency p50/p95/p99;
2. asks: one client sends ``POST /v1/ask`` back to back (answers are generated
   one at a time anyway) until ``--asks`` answers or ``--ask-seconds`` pass;
   reports asks/min and latency p50/p95.

Both loops are bounded; the script stops the server and exits by itself.

    .venv/bin/python bench/bench_http.py                      # default LLM
    .venv/bin/python bench/bench_http.py --llm smollm2-135m --json bench/http.json
    .venv/bin/python bench/bench_http.py --llm none --asks 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
RAG = str(Path(sys.executable).with_name("rag"))

QUERIES = [
    "US withdrawal from Iraq",
    "When did the US announce leaving Iraq?",
    "coalition mission end date",
    "turning point in foreign policy",
    "troops stationed in Iraq",
    "Middle East strategy shift",
    "election results",
    "who won the championship",
    "economic growth forecast",
    "climate summit agreement",
    "officials said",
    "announcement in September 2024",
    "military forces withdrawal timeline",
    "reaction of analysts",
    "international mission",
    "government statement",
    "security situation",
    "what happened next",
    "the decision surprised",
    "two years",
]
QUESTIONS = [
    "When did the US announce leaving Iraq?",
    "What did officials call the withdrawal from Iraq?",
    "Who announced the end of the mission in Iraq?",
    "When will the coalition mission in Iraq end?",
    "Why did the United States change its Middle East strategy?",
    "How many troops were in Iraq?",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Server:
    """`rag serve` in a subprocess, stopped on exit."""

    def __init__(self, index: Path, llm: str, log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [RAG, "serve", "--index", str(index), "--port", str(self.port)]
        args += ["--no-llm"] if llm == "none" else (["--llm", llm] if llm else [])
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        self.log = log

    def wait_ready(self, timeout: float) -> float:
        t0 = time.monotonic()
        with httpx.Client(base_url=self.url, timeout=5) as c:
            while time.monotonic() - t0 < timeout:
                if self.process.poll() is not None:
                    raise SystemExit(f"rag serve exited:\n{self.log.read_text()[-2000:]}")
                try:
                    if c.get("/readyz").status_code == 200:
                        return time.monotonic() - t0
                except httpx.TransportError:
                    pass
                time.sleep(0.25)
        raise SystemExit(f"rag serve not ready after {timeout:.0f} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


async def bench_search(url: str, clients: int, seconds: float, limit: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        for q in QUERIES[:3]:  # warm up
            await client.get("/v1/search", params={"q": q})

        async def worker(i: int) -> None:
            nonlocal errors
            n = i
            while time.perf_counter() < deadline and len(latencies) + errors < limit:
                q = QUERIES[n % len(QUERIES)]
                n += clients
                t = time.perf_counter()
                r = await client.get("/v1/search", params={"q": q, "k": 5})
                if r.status_code == 200:
                    latencies.append(time.perf_counter() - t)
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(clients)))
        elapsed = time.perf_counter() - t0
    return {
        "clients": clients,
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 1),
        "p95_ms": round(percentile(latencies, 95) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
    }


def bench_ask(url: str, asks: int, seconds: float) -> dict[str, Any]:
    latencies: list[float] = []
    modes: dict[str, int] = {}
    errors = 0
    with httpx.Client(base_url=url, timeout=600) as client:
        t0 = time.perf_counter()
        i = 0
        while i < asks and time.perf_counter() - t0 < seconds:
            t = time.perf_counter()
            r = client.post("/v1/ask", json={"question": QUESTIONS[i % len(QUESTIONS)]})
            i += 1
            if r.status_code != 200:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t)
            mode = r.json().get("mode", "?")
            modes[mode] = modes.get(mode, 0) + 1
        elapsed = time.perf_counter() - t0
    return {
        "requests": len(latencies),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "per_minute": round(len(latencies) / elapsed * 60, 1) if elapsed else 0.0,
        "p50_s": round(percentile(latencies, 50), 2),
        "p95_s": round(percentile(latencies, 95), 2),
        "modes": modes,
    }


def table(result: dict[str, Any]) -> str:
    s, a = result["search"], result["ask"]
    rows = [
        ("llm", result["llm"]),
        ("documents / chunks", f"{result['documents']} / {result['chunks']}"),
        ("server ready after", f"{result['ready_s']:.1f} s"),
        (f"searches/s ({s['clients']} clients)", f"{s['per_second']}"),
        ("search latency p50 / p95 / p99", f"{s['p50_ms']} / {s['p95_ms']} / {s['p99_ms']} ms"),
        ("searches (errors)", f"{s['requests']} ({s['errors']}) in {s['seconds']} s"),
        ("asks/min (1 client)", f"{a['per_minute']}"),
        ("ask latency p50 / p95", f"{a['p50_s']} / {a['p95_s']} s"),
        ("asks (errors)", f"{a['requests']} ({a['errors']}) in {a['seconds']} s"),
        ("answer modes", ", ".join(f"{k} {v}" for k, v in a["modes"].items())),
        ("load average before", " ".join(f"{x:.2f}" for x in result["loadavg_before"])),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", type=Path, help="an existing index (default: seeds, indexed anew)")
    ap.add_argument("--llm", default="", help="LLM for rag serve ('none' for extractive; "
                    "default: rag serve's default)")  # fmt: skip
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--search-seconds", type=float, default=20.0)
    ap.add_argument("--max-searches", type=int, default=20000)
    ap.add_argument("--asks", type=int, default=6)
    ap.add_argument("--ask-seconds", type=float, default=240.0)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in ("RAG_API_KEY",)}
    env["RAG_QUEUE_SIZE"] = env.get("RAG_QUEUE_SIZE", "4")
    with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        index = args.index
        if index is None:
            index = Path(tmp) / "index"
            print(f"indexing seeds into {index} ...", file=sys.stderr)
            subprocess.run([RAG, "index", str(REPO / "seeds"), "--index", str(index)],
                           check=True, capture_output=True, env=env)  # fmt: skip
        loadavg = list(os.getloadavg())
        server = Server(index, args.llm, Path(tmp) / "server.log", env)
        try:
            ready = server.wait_ready(600)
            ready_info = httpx.get(f"{server.url}/readyz").json()
            print(f"server ready in {ready:.1f} s; searching ...", file=sys.stderr)
            search = asyncio.run(
                bench_search(server.url, args.clients, args.search_seconds, args.max_searches)
            )
            print("asking ...", file=sys.stderr)
            ask = bench_ask(server.url, args.asks, args.ask_seconds)
            chunks = sum(d["chunks"] for d in httpx.get(f"{server.url}/v1/documents").json())
        finally:
            server.stop()
    result = {
        "llm": ready_info["llm"],
        "documents": ready_info["documents"],
        "chunks": chunks,
        "ready_s": round(ready, 1),
        "search": search,
        "ask": ask,
        "loadavg_before": loadavg,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
