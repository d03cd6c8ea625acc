"""Key, limits, upload names, CORS: what stands between the network and the index."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import KEY, QUESTION, AppFactory
from fastapi.testclient import TestClient

from api.uploads import safe_name


@pytest.fixture
def keyed(make_app: AppFactory) -> Iterator[TestClient]:
    with TestClient(make_app(api_key=KEY)) as c:
        yield c


def test_key_is_required_everywhere_but_healthz(keyed: TestClient) -> None:
    assert keyed.get("/healthz").status_code == 200
    requests = [
        ("GET", "/readyz"), ("GET", "/v1/search?q=Iraq"), ("GET", "/v1/documents"),
        ("GET", "/v1/models"), ("GET", "/openapi.json"), ("GET", "/docs"),
        ("DELETE", "/v1/documents/abc"), ("GET", "/v1/unknown"),
    ]  # fmt: skip
    for method, path in requests:
        r = keyed.request(method, path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.json()["error"]["type"] == "unauthorized"
    r = keyed.post("/v1/ask", json={"question": QUESTION})
    assert r.status_code == 401


@pytest.mark.parametrize(
    "header", ["Bearer wrong", f"Basic {KEY}", KEY, f"Bearer {KEY}x", "Bearer ", ""]
)
def test_wrong_keys_are_refused(keyed: TestClient, header: str) -> None:
    assert keyed.get("/v1/documents", headers={"Authorization": header}).status_code == 401


def test_the_right_key_opens_everything(keyed: TestClient) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    assert keyed.get("/readyz", headers=auth).status_code == 200
    assert keyed.post("/v1/ask", json={"question": QUESTION}, headers=auth).status_code == 200
    assert keyed.get("/openapi.json", headers=auth).status_code == 200


def test_the_page_shell_loads_without_the_key(keyed: TestClient) -> None:
    # It holds no data; it asks for the key and sends it with every request.
    assert keyed.get("/").status_code == 200
    assert keyed.get("/static/app.js").status_code == 200


def test_key_is_compared_in_constant_time() -> None:
    import inspect

    from api import middleware

    assert "secrets.compare_digest" in inspect.getsource(middleware.BearerAuthMiddleware)


def test_cors_is_off_unless_configured(client: TestClient, make_app: AppFactory) -> None:
    origin = {"Origin": "http://evil.example"}
    assert "access-control-allow-origin" not in client.get("/healthz", headers=origin).headers
    preflight = {**origin, "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/ask", headers=preflight).headers
    with TestClient(make_app(cors_origins="http://ok.example", api_key=KEY)) as c:
        ok = {"Origin": "http://ok.example", "Access-Control-Request-Method": "POST",
              "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
        r = c.options("/v1/ask", headers=ok)
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == "http://ok.example"
        r = c.options("/v1/ask", headers={**ok, "Origin": "http://evil.example"})
        assert r.headers.get("access-control-allow-origin") != "http://evil.example"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\windows\\win.md", "win.md"),
        ("/abs/path/report.PDF", "report.pdf"),
        (".hidden.txt", "hidden.txt"),
        ("a b;c$(rm -rf).html", "a_b_c_rm_-rf.html"),
        ("....txt", "upload.txt"),
        ("noté ünïcode.md", "not_n_code.md"),
        ("x" * 300 + ".txt", "x" * 100 + ".txt"),
        ("nul\x00byte.txt", "nulbyte.txt"),
    ],
)
def test_upload_names_are_sanitised(given: str, stored: str) -> None:
    assert safe_name(given) == stored


@pytest.mark.parametrize("name", ["tool.exe", "archive.tar.gz", "noext", "", None, "dir.txt/x"])
def test_unsupported_upload_types_are_refused(name: str | None) -> None:
    from api.errors import ApiError

    with pytest.raises(ApiError) as err:
        safe_name(name)
    assert err.value.status_code == 415


def test_uploads_cannot_escape_the_uploads_folder(make_app: AppFactory, tmp_path: Path) -> None:
    with TestClient(make_app()) as client:
        files = [
            ("files", ("../../../escape.txt", b"Escaping text about rivers.")),
            ("files", ("../escape.txt", b"Another text about lakes.")),
        ]
        r = client.post("/v1/documents", files=files)
        assert r.status_code == 200 and r.json()["added"] == 2
        uploads = tmp_path / "index" / "uploads"
        assert sorted(p.name for p in uploads.iterdir()) == ["escape-2.txt", "escape.txt"]
        assert not (tmp_path / "escape.txt").exists()
        assert not (tmp_path / "index" / "escape.txt").exists()
        r = client.post("/v1/documents", files=[("files", ("evil.sh", b"echo hi"))])
        assert r.status_code == 415


def test_a_failed_upload_leaves_the_previous_file(make_app: AppFactory, tmp_path: Path) -> None:
    with TestClient(make_app()) as client:
        good = [("files", ("notes.txt", b"Rivers flow to the sea."))]
        assert client.post("/v1/documents", files=good).status_code == 200
        bad = [("files", ("notes.txt", b"\x00\x01\x02\xff" * 100))]
        r = client.post("/v1/documents", files=bad)
        assert r.status_code == 400 and r.json()["error"]["type"] == "bad_input"
        uploads = tmp_path / "index" / "uploads"
        assert [p.name for p in uploads.iterdir()] == ["notes.txt"]
        assert (uploads / "notes.txt").read_bytes() == b"Rivers flow to the sea."


def test_bodies_over_the_limit_are_413(make_app: AppFactory) -> None:
    with TestClient(make_app(max_upload_bytes=2048)) as client:
        big = [("files", ("big.txt", b"word " * 1000))]
        r = client.post("/v1/documents", files=big)
        assert r.status_code == 413 and r.json()["error"]["type"] == "payload_too_large"

        def chunked() -> Iterator[bytes]:  # no Content-Length: counted while reading
            yield b'{"text": "'
            for _ in range(100):
                yield b"lots of words " * 10
            yield b'"}'

        r = client.post("/v1/documents", content=chunked(),
                        headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code == 413
        assert client.get("/v1/documents").status_code == 200


def test_too_many_files_are_refused(make_app: AppFactory) -> None:
    with TestClient(make_app(max_upload_files=2)) as client:
        files = [("files", (f"f{i}.txt", b"Some text here.")) for i in range(3)]
        r = client.post("/v1/documents", files=files)
        assert r.status_code == 400 and r.json()["error"]["message"]
