"""``/healthz`` (the process is up) and ``/readyz`` (models loaded, index open)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.errors import ERROR_RESPONSES, ApiError
from api.schemas import Status
from api.service import ServiceDep
from rag import IndexNotFoundError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status, summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Models loaded and index open",
            responses={503: ERROR_RESPONSES[503]})  # fmt: skip
def readyz(service: ServiceDep) -> dict[str, Any]:
    if not service.ready:
        service.rag  # noqa: B018 - raises the 503 that says why
        raise ApiError(503, "not ready", type="not_ready")
    rag = service.reader()
    try:
        documents = len(rag.documents())
    except IndexNotFoundError:
        documents = 0
    return {
        "status": "ready",
        "documents": documents,
        "llm": service.settings.llm if service.settings.llm_enabled else "none",
        "embedding_model": service.settings.embedding_model,
        "queue": {"pending": service.queue.pending, "capacity": service.queue.capacity},
    }
