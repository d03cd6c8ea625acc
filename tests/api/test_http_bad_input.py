"""Bad uploads and bad numbers over HTTP: a 4xx naming the file, never a 500, nothing
half-written (issue 19, parts 1 and 6). The files are real bytes, made here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from api_support import KEY, QUESTION, AppFactory
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bad_files import GOOD_TEXT, bomb_pdf, encrypted_pdf, huge_page_pdf  # noqa: E402

BAD_UPLOADS = {
    "locked.pdf": (lambda: encrypted_pdf("Hidden words.", "secret"), "needs a password"),
    "bomb.pdf": (bomb_pdf, "decompression bomb"),
    "huge-page.pdf": (huge_page_pdf, "MB of content"),
    "latin1.txt": (lambda: "café au lait".encode("latin-1"), "not valid UTF-8"),
    "corrupt.pdf": (lambda: b"%PDF-1.4\n" + b"\xff" * 200, "PDF"),
}


@pytest.mark.parametrize("name", sorted(BAD_UPLOADS))
def test_a_bad_upload_is_a_4xx_naming_the_file_and_writes_nothing(
    name: str, make_app: AppFactory, tmp_path: Path
) -> None:
    make, words = BAD_UPLOADS[name]
    with TestClient(make_app()) as client:
        before = client.get("/v1/documents").json()
        files = [("files", ("good.txt", GOOD_TEXT.encode())), ("files", (name, make()))]
        r = client.post("/v1/documents", files=files)
        assert r.status_code == 400, r.text
        error = r.json()["error"]
        assert error["type"] == "bad_input"
        assert error["message"].startswith(f"{name}: ") and words in error["message"]
        assert str(tmp_path) not in error["message"]  # the file's name, not where it is kept
        assert client.get("/v1/documents").json() == before  # the good one is not half-added
        uploads = tmp_path / "index" / "uploads"
        assert not uploads.exists() or list(uploads.iterdir()) == []


@pytest.mark.parametrize("k", [True, False, "1", 1.5])
def test_k_must_be_a_json_integer(k: object, client: TestClient) -> None:
    r = client.post("/v1/ask", json={"question": QUESTION, "k": k})
    assert r.status_code == 422 and r.json()["error"]["type"] == "invalid_request"
    messages = [{"role": "user", "content": QUESTION}]
    r = client.post("/v1/chat/completions", json={"messages": messages, "k": k})
    assert r.status_code == 422


def test_k_in_a_query_string_must_be_a_number(client: TestClient) -> None:
    assert client.get("/v1/search", params={"q": "Iraq", "k": "true"}).status_code == 422
    assert client.get("/v1/search", params={"q": "Iraq", "k": "2"}).status_code == 200


def test_the_bearer_scheme_is_case_insensitive(make_app: AppFactory) -> None:
    # RFC 9110 §11.1: auth schemes are case-insensitive (documented in docs/http.md).
    with TestClient(make_app(api_key=KEY)) as client:
        for scheme in ("Bearer", "bearer", "BEARER"):
            r = client.get("/v1/documents", headers={"Authorization": f"{scheme} {KEY}"})
            assert r.status_code == 200, scheme
