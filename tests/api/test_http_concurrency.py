"""Over a real socket (uvicorn in a thread, fake models): queue, disconnects, readers vs writers."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from api_fakes import GatedGenerator
from api_support import QUESTION, LiveServer

Live = Callable[..., LiveServer]
LONG = "The US announced leaving Iraq in September 2024 " + "and more words " * 100


def wait_for(predicate: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.02)


def pending(c: httpx.Client) -> int:
    n: int = c.get("/readyz").json()["queue"]["pending"]
    return n


def test_a_full_queue_answers_503_with_retry_after(live: Live) -> None:
    gate = threading.Event()
    gen = GatedGenerator("The US announced leaving Iraq in September 2024.", gate=gate)
    with live(gen, queue_size=1) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        body = {"question": QUESTION}
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(c.post, "/v1/ask", json=body)
            assert gen.started.wait(10)
            second = pool.submit(c.post, "/v1/ask", json={**body, "stream": True})
            wait_for(lambda: pending(c) == 2)
            for path, payload in (
                ("/v1/ask", body),
                ("/v1/chat/completions", {"model": "rag", "messages": [
                    {"role": "user", "content": QUESTION}]}),
            ):  # fmt: skip
                busy = c.post(path, json=payload)
                assert busy.status_code == 503
                assert int(busy.headers["retry-after"]) >= 1
                assert busy.json()["error"]["type"] == "queue_full"
            # Searches do not queue behind answers.
            assert c.get("/v1/search", params={"q": "Iraq"}).status_code == 200
            gate.set()
            assert first.result().status_code == 200
            assert second.result().status_code == 200
        wait_for(lambda: pending(c) == 0)
        assert c.post("/v1/ask", json=body).status_code == 200


def test_a_client_that_disconnects_mid_stream_stops_generation(live: Live) -> None:
    gen = GatedGenerator(LONG, delay=0.01)
    with live(gen) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        body = {"question": QUESTION, "stream": True}
        with c.stream("POST", "/v1/ask", json=body) as r:
            for line in r.iter_lines():
                if line.startswith("event: token"):
                    break
        wait_for(lambda: gen.stopped_by is not None)
        assert type(gen.stopped_by).__name__ == "ClientGone"
        assert gen.emitted < len(gen.pieces) // 2
        wait_for(lambda: pending(c) == 0)
        # The next answer runs normally.
        gen.delay = 0
        assert c.post("/v1/ask", json={"question": QUESTION}).status_code == 200


def test_a_client_that_gives_up_waiting_stops_generation(live: Live) -> None:
    gen = GatedGenerator(LONG, delay=0.01)
    with live(gen) as server, httpx.Client(base_url=server.url) as c:
        with contextlib.suppress(httpx.ReadTimeout):
            c.post("/v1/ask", json={"question": QUESTION}, timeout=0.5)
        wait_for(lambda: gen.stopped_by is not None)
        assert gen.emitted < len(gen.pieces) // 2
        wait_for(lambda: pending(c) == 0)


def test_a_waiting_answer_whose_client_left_never_runs(live: Live) -> None:
    gate = threading.Event()
    gen = GatedGenerator("The US announced leaving Iraq in September 2024.", gate=gate)
    with live(gen, queue_size=2) as server, httpx.Client(base_url=server.url, timeout=30) as c:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(c.post, "/v1/ask", json={"question": QUESTION})
            assert gen.started.wait(10)
            with c.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as r:
                assert r.status_code == 200
            wait_for(lambda: pending(c) == 1)  # the abandoned one left the queue
            gate.set()
            assert first.result().status_code == 200
        assert gen.calls == 1


def test_readers_see_the_old_or_the_new_index_during_writes(live: Live) -> None:
    with live() as server, httpx.Client(base_url=server.url, timeout=30) as c:
        stop = threading.Event()
        seen: set[int] = set()
        errors: list[str] = []

        def read() -> None:
            while not stop.is_set():
                r = c.get("/v1/documents")
                if r.status_code != 200:
                    errors.append(r.text)
                seen.add(len(r.json()))
                s = c.get("/v1/search", params={"q": "Iraq rivers"})
                if s.status_code != 200:
                    errors.append(s.text)

        readers = [threading.Thread(target=read) for _ in range(3)]
        for t in readers:
            t.start()
        ids = []
        for i in range(5):
            text = f"River number {i} flows north. It is {i} miles long."
            ids += c.post("/v1/documents", json={"text": text, "title": f"River {i}"}).json()[
                "doc_ids"
            ]
        for doc_id in ids:
            assert c.delete(f"/v1/documents/{doc_id}").status_code == 200
        stop.set()
        for t in readers:
            t.join()
        assert not errors
        assert seen <= set(range(2, 8)) and 2 in seen
