"""``/healthz`` (the process is up) and ``/readyz`` (models loaded, index open)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.errors import ERROR_RESPONSES
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
    rag = service.reader()  # 503 while the models load, or if they failed to
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
