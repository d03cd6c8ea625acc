"""``GET /v1/documents/{doc_id}/text``: a document's text, whole or around a cited span.

The text is what citation offsets point into, so ``text[start - offset : end - offset]``
of a window is exactly the cited quote; the page at ``/`` opens a citation with it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.schemas import DocumentTextOut
from api.service import ServiceDep
from rag.errors import BadInputError, DocumentNotFoundError, IndexNotFoundError
from rag.source_text import MAX_CONTEXT

router = APIRouter(tags=["documents"])


@router.get(
    "/v1/documents/{doc_id}/text", response_model=DocumentTextOut,
    summary="A document's text, whole or a window around a span",
)  # fmt: skip
async def document_text(
    doc_id: str,
    service: ServiceDep,
    start: Annotated[
        int | None, Query(ge=0, description="Start of the span (a citation's).")
    ] = None,
    end: Annotated[int | None, Query(ge=0, description="End of the span.")] = None,
    context: Annotated[
        int | None,
        Query(ge=0, le=MAX_CONTEXT, description="Characters each side of the span (300)."),
    ] = None,
) -> dict[str, Any]:
    if (start is None) != (end is None):
        raise ApiError(422, "give both start and end, or neither")
    if start is not None and end is not None and start > end:
        raise ApiError(422, f"start {start} is after end {end}")
    rag = service.reader()

    def read() -> dict[str, Any]:
        return rag.document_text(doc_id, start=start, end=end, context=context).to_dict()

    try:
        return await run_in_threadpool(read)
    except (DocumentNotFoundError, IndexNotFoundError):
        raise ApiError(404, f"no document with id '{doc_id[:80]}'") from None
    except BadInputError as exc:  # a span outside the text
        raise ApiError(422, str(exc)) from None
