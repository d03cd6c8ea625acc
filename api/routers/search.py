"""``GET /v1/search``: the best passages, as ``rag search --json`` prints them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.schemas import HitOut
from api.service import ServiceDep

router = APIRouter(tags=["search"])


@router.get("/v1/search", response_model=list[HitOut], summary="Passages matching a query")
async def search(
    service: ServiceDep,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What to look for.")],
    k: Annotated[int | None, Query(ge=1, le=100, description="How many passages.")] = None,
) -> list[dict[str, Any]]:
    query, k = service.check_question(q, k)
    rag = service.reader()
    hits = await run_in_threadpool(rag.search, query, k)  # searches run in parallel
    return [h.to_dict() for h in hits]
