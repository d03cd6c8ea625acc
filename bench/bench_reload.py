"""How long `/healthz` waits while `rag serve` picks up another process's write.

Builds an index of ``--chunks`` chunks (synthetic text, random unit vectors of
``--dim``: the load of a generation does not depend on what the vectors mean), serves
it with uvicorn configured as `rag serve` runs it, lets a second handle (as `rag index`
would) add one document, and asks `/healthz` back to back while the server loads the
new generation. Reported, all measured in this run:

* **reload**: seconds from the first request that saw the new ``CURRENT`` until the
  new document is listed. Before the reload ran on a thread, an async request ran it
  on the event loop, and `/healthz` waited this long.
* **healthz during / before**: the slowest and median `/healthz` while the reload ran,
  and the same over as many requests before the write (the baseline).

    .venv/bin/python bench/bench_reload.py                 # 100k chunks
    .venv/bin/python bench/bench_reload.py --chunks 10000

Benchmarks report; they never assert.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "api"))

from api_support import LiveServer  # noqa: E402

from api.app import create_app  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from rag import Rag, Settings  # noqa: E402
from rag.documents import text_document  # noqa: E402

WORDS = [
    "river", "mountain", "council", "budget", "election", "harbour", "festival", "winter",
    "museum", "railway", "treaty", "minister", "season", "league", "record", "storm",
]  # fmt: skip


class RandomEmbedder:
    """Seeded random unit vectors: cheap, and what a generation holds either way."""

    name = "bench/random"

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.rng = np.random.default_rng(0)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        v = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def build(folder: Path, chunks: int, dim: int) -> None:
    rng = np.random.default_rng(1)
    rag = Rag.open(folder, Settings(index=folder, llm="none"), create=True,
                   embedder=RandomEmbedder(dim))  # fmt: skip
    per_doc = 20  # ~20 chunks of 700 characters with 200 of overlap
    docs = []
    for i in range(max(1, chunks // per_doc)):
        sentences = (" ".join(rng.choice(WORDS, 12)).capitalize() + "." for _ in range(per_doc * 6))
        docs.append(text_document(" ".join(sentences), f"Document {i}", f"doc-{i}"))
    rag.add_documents(docs)
    print(f"index: {len(rag.store)} chunks, {len(docs)} documents", flush=True)


def healthz_times(c: httpx.Client, until: float | None = None, n: int = 0) -> list[float]:
    times = []
    while (until is None and len(times) < n) or (until is not None and time.monotonic() < until):
        t0 = time.perf_counter()
        assert c.get("/healthz").status_code == 200
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "index"
        t0 = time.perf_counter()
        build(folder, args.chunks, args.dim)
        print(f"built in {time.perf_counter() - t0:.1f} s", flush=True)
        settings = Settings(index=folder, llm="none")
        served = Rag.open(folder, settings, embedder=RandomEmbedder(args.dim))
        writer = Rag.open(folder, settings, embedder=RandomEmbedder(args.dim))
        api = ApiSettings()
        app = create_app(settings, served, api_settings=api)
        with LiveServer(app, api=api) as server, httpx.Client(base_url=server.url, timeout=60) as c:
            before = healthz_times(c, n=200)
            writer.add_text("Kiwi birds cannot fly.", "Kiwi", "kiwi")
            t_start = time.perf_counter()
            assert c.get("/readyz").status_code == 200  # sees the new CURRENT: reload starts
            during: list[float] = []
            while not any(d["title"] == "Kiwi" for d in c.get("/v1/documents").json()):
                during += healthz_times(c, until=time.monotonic() + 0.05)
            reload_s = time.perf_counter() - t_start
    ms = 1000
    print(f"reload (what /healthz waited when it ran on the event loop): {reload_s:.2f} s")
    print(f"/healthz during the reload: {len(during)} requests, slowest {max(during) * ms:.1f} ms, "
          f"median {statistics.median(during) * ms:.2f} ms")  # fmt: skip
    print(f"/healthz before the write:  {len(before)} requests, slowest {max(before) * ms:.1f} ms, "
          f"median {statistics.median(before) * ms:.2f} ms")  # fmt: skip
    print(f"slowest /healthz during the reload / the reload: {max(during) / reload_s:.3f}")


if __name__ == "__main__":
    main()
