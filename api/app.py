"""The FastAPI app: routers, middleware, error handlers, and the lifespan.

Models are loaded once, in the lifespan, on a worker thread, and kept on
``app.state.service``; nothing loads at import time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles

from api import serving
from api.docs import install_docs, offline_assets
from api.errors import ERROR_RESPONSES, install_error_handlers
from api.middleware import BearerAuthMiddleware, BodyLimitMiddleware
from api.routers import ask, chat, document_text, documents, health, models, page, search
from api.routers.page import STATIC
from api.service import Service
from api.settings import ApiSettings, from_environment
from api.watching import FolderWatcher
from rag import Rag, Settings

log = logging.getLogger("rag.api")

# Documents the key in OpenAPI; BearerAuthMiddleware does the checking.
_bearer = HTTPBearer(auto_error=False, description="Needed when RAG_API_KEY is set.")


def create_app(
    settings: Settings | None = None,
    rag: Rag | None = None,
    *,
    api_settings: ApiSettings | None = None,
    watch: Sequence[Path] = (),
) -> FastAPI:
    """Build the app. With ``rag`` given, it is used (and warmed up) instead of opened.
    ``watch``: folders the served index follows (``rag serve --watch``)."""
    settings = settings or Settings()
    api_settings = api_settings or ApiSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = Service(settings, api_settings)
        app.state.service = service
        loading = asyncio.create_task(asyncio.to_thread(service.load, rag))
        if rag is not None:
            await loading  # an injected Rag (tests): ready before the first request
        watcher = FolderWatcher(service, watch) if watch else None
        app.state.watcher = watcher
        if watcher is not None:
            watcher.start()
        try:
            yield
        finally:
            if watcher is not None:
                await asyncio.to_thread(watcher.stop)
            service.close()
            if not loading.done():
                loading.cancel()

    offline = offline_assets() is not None
    app = FastAPI(
        title="rag",
        version="0.1.0",
        summary="Questions answered from your documents, with citations you can check.",
        lifespan=lifespan,
        responses={k: v for k, v in ERROR_RESPONSES.items() if k in (401, 422, 500)},
        docs_url=None if offline else "/docs",
        redoc_url=None,
    )
    if offline:
        install_docs(app)
    install_error_handlers(app)
    secured = [Depends(_bearer)]
    app.include_router(health.router)
    for module in (ask, search, documents, document_text, chat, models):
        app.include_router(module.router, dependencies=secured, responses=ERROR_RESPONSES)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(BodyLimitMiddleware, max_bytes=api_settings.max_upload_bytes)
    if api_settings.api_key is not None:
        app.add_middleware(BearerAuthMiddleware, key=api_settings.api_key.get_secret_value())
    if api_settings.origins:  # outermost, so preflight requests are answered before auth
        app.add_middleware(
            CORSMiddleware,
            allow_origins=api_settings.origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    return app


def serve(
    settings: Settings, *, host: str = "127.0.0.1", port: int = 8000, watch: Sequence[Path] = ()
) -> None:
    """Run the service with uvicorn until interrupted (``rag serve``), with the timeouts
    and limits of :class:`ApiSettings` (see :mod:`api.serving`)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    api_settings = from_environment()
    app = create_app(settings, api_settings=api_settings, watch=watch)
    log.info("loading models (llm %s); /readyz turns 200 when done", settings.llm)
    serving.run(app, api_settings, host=host, port=port)
