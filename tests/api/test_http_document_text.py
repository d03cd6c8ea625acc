"""``GET /v1/documents/{doc_id}/text`` and the page fields, over fakes."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import ANSWER, IRAQ, KEY, QUESTION, AppFactory
from fastapi.testclient import TestClient


def _cited(client: TestClient) -> dict[str, Any]:
    body = client.post("/v1/ask", json={"question": QUESTION}).json()
    cite: dict[str, Any] = body["citations"][0]
    return cite


def test_a_window_around_a_citation_holds_its_quote(client: TestClient) -> None:
    c = _cited(client)
    assert c["page"] is None  # text, not a paged format
    r = client.get(
        f"/v1/documents/{c['doc_id']}/text",
        params={"start": c["start"], "end": c["end"], "context": 10},
    )
    assert r.status_code == 200, r.text
    view = r.json()
    a, b = c["start"] - view["offset"], c["end"] - view["offset"]
    assert view["text"][a:b] == c["quote"] == ANSWER
    assert view["offset"] == c["start"] - 10 and (view["start"], view["end"]) == (
        c["start"],
        c["end"],
    )
    assert view["title"] == "US leaves Iraq" and view["page"] is None


def test_the_whole_text(client: TestClient) -> None:
    c = _cited(client)
    view = client.get(f"/v1/documents/{c['doc_id']}/text").json()
    # Added as text (no file to read again): rebuilt from the chunks, every word in place.
    assert view["offset"] == 0 and view["text"].split() == IRAQ.split()
    assert view["exact"] is False


def test_an_uploaded_file_is_read_exactly(client: TestClient) -> None:
    text = "Ledger\n\nThe ferry leaves at nine.\n\n\nIt returns at five.\n"
    r = client.post("/v1/documents", files={"files": ("ledger.txt", text.encode(), "text/plain")})
    assert r.status_code == 200, r.text
    (doc_id,) = r.json()["doc_ids"]
    view = client.get(f"/v1/documents/{doc_id}/text").json()
    assert view["exact"] is True and view["text"] == text and view["length"] == len(text)


def test_an_unknown_document_is_404(client: TestClient) -> None:
    r = client.get("/v1/documents/0123456789abcdef/text")
    assert r.status_code == 404 and r.json()["error"]["type"] == "not_found"


@pytest.mark.parametrize(
    "params",
    [{"start": 5}, {"end": 5}, {"start": 9, "end": 3}, {"start": 0, "end": 10**6},
     {"start": -1, "end": 3}, {"start": 0, "end": 3, "context": -5}, {"start": "x", "end": 3}],
)  # fmt: skip
def test_a_bad_range_is_422(client: TestClient, params: dict[str, Any]) -> None:
    doc_id = client.get("/v1/documents").json()[0]["doc_id"]
    r = client.get(f"/v1/documents/{doc_id}/text", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"]


def test_the_text_needs_the_key_when_one_is_set(make_app: AppFactory) -> None:
    with TestClient(make_app(api_key=KEY)) as c:
        doc_id = c.get("/v1/documents", headers={"Authorization": f"Bearer {KEY}"}).json()[0][
            "doc_id"
        ]
        assert c.get(f"/v1/documents/{doc_id}/text").status_code == 401


def test_the_schemas_carry_the_page(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("CitationOut", "HitOut", "DocumentTextOut"):
        assert "page" in schemas[name]["properties"], name
    hit = client.get("/v1/search", params={"q": "Iraq"}).json()[0]
    assert "page" in hit and hit["page"] is None
