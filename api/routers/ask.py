"""``POST /v1/ask``: a checked answer with citations, whole or streamed as events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.answers import SSE_HEADERS, SSE_HEARTBEAT, AskRun, sse
from api.conversation import checked_history
from api.errors import ApiError, error_body
from api.schemas import AnswerOut, AskRequest
from api.service import ServiceDep
from rag.types import Hit

router = APIRouter(tags=["ask"])

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The answer; with `stream: true`, `text/event-stream` events "
        "`sources` ({sources: [hit]}), `token` ({text}), then `answer` (the answer object) "
        "or `error` ({error: {type, message}}).",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.post("/v1/ask", response_model=AnswerOut, responses=STREAM_DOC,
             summary="Answer a question from the documents")  # fmt: skip
async def ask(body: AskRequest, request: Request, service: ServiceDep) -> Any:
    question, k = service.check_question(body.question, body.k)
    limits = service.api
    history = checked_history(body.history, limits.max_messages, limits.max_question_chars)
    run = AskRun(service.reader(), question, k, stream=body.stream, history=history)
    run.start(service.queue)
    if body.stream:
        return StreamingResponse(_events(run), media_type="text/event-stream", headers=SSE_HEADERS)
    answer = await run.wait(request)
    return answer.to_dict()


async def _events(run: AskRun) -> AsyncIterator[str]:
    async for event in run.events():
        if event is None:
            yield SSE_HEARTBEAT
        elif event.kind == "sources":
            hits: list[Hit] = event.data
            yield sse("sources", {"sources": [h.to_dict() for h in hits]})
        elif event.kind == "token":
            yield sse("token", {"text": event.data})
        elif event.kind == "answer":
            yield sse("answer", event.data.to_dict())
        else:
            err: ApiError = event.data
            yield sse("error", error_body(err.type, err.message))
