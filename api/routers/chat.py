"""``POST /v1/chat/completions``: OpenAI-compatible, so OpenAI clients work unchanged.

The content is the checked answer with ``[n]`` markers and a sources list; the
structured citations ride along in ``citations``. A stream sends the role at
once, keep-alive comments while the answer is being made, then the checked
answer in pieces: a draft cannot be taken back in this format, so it is not sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from api.answers import SSE_HEADERS, SSE_HEARTBEAT, AskRun
from api.conversation import question_from
from api.errors import ApiError, error_body
from api.openai_compat import ChatRequest, Completion, data_line, extras, pieces, render
from api.service import ServiceDep

router = APIRouter(tags=["openai"])

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A chat.completion, or with `stream: true` chat.completion.chunk events.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@router.post("/v1/chat/completions", responses=STREAM_DOC,
             summary="OpenAI-compatible chat completion")  # fmt: skip
async def chat_completions(body: ChatRequest, request: Request, service: ServiceDep) -> Any:
    if len(body.messages) > service.api.max_messages:
        raise ApiError(422, f"more than {service.api.max_messages} messages")
    question = question_from(body.messages, service.api.max_question_chars)
    question, k = service.check_question(question, body.k)
    run = AskRun(service.reader(), question, k, stream=False)
    run.start(service.queue)
    completion = Completion(body.model)
    if not body.stream:
        return completion.whole(await run.wait(request))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(
        _chunks(run, completion, include_usage),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


async def _chunks(run: AskRun, completion: Completion, include_usage: bool) -> AsyncIterator[str]:
    yield data_line(completion.chunk({"role": "assistant", "content": ""}))
    async for event in run.events():
        if event is None:
            yield SSE_HEARTBEAT
        elif event.kind == "error":
            err: ApiError = event.data
            yield data_line(error_body(err.type, err.message))
            return
        elif event.kind == "answer":
            for piece in pieces(render(event.data)):
                yield data_line(completion.chunk({"content": piece}))
            yield data_line(completion.chunk({}, "stop", **extras(event.data)))
    if include_usage:
        yield data_line(completion.usage_chunk())
    yield data_line("[DONE]")
