"""``/docs`` without a CDN: Swagger UI's files come from the ``fastapi-offline`` package.

FastAPI's own ``/docs`` page loads Swagger UI from a CDN, which these machines
cannot reach. When ``fastapi-offline`` is installed its copies are served
locally; otherwise FastAPI's default page is used.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

ASSETS = "/docs-static"


def offline_assets() -> Path | None:
    try:
        import fastapi_offline
    except ImportError:
        return None
    folder = Path(fastapi_offline.__file__).resolve().parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def install_docs(app: FastAPI) -> bool:
    """Serve ``/docs`` from local files; ``False`` when they are not installed."""
    folder = offline_assets()
    if folder is None:
        return False
    app.mount(ASSETS, StaticFiles(directory=folder), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )

    return True
