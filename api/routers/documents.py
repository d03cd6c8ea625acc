"""``/v1/documents``: upload files or text, list documents, delete one.

Writes go through the library, which saves a new index generation and swaps it
in: a concurrent reader sees the old index or the new one, never a half-written one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.errors import ApiError
from api.schemas import DocumentOut, SummaryOut, TextDocumentRequest
from api.service import Service, ServiceDep
from api.uploads import is_upload, store_and_index
from rag import BadInputError, IndexNotFoundError, Rag
from rag.documents import doc_id_for, text_document
from rag.types import IndexSummary

router = APIRouter(tags=["documents"])

UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                    "required": ["files"],
                }
            },
            "application/json": {"schema": TextDocumentRequest.model_json_schema()},
        },
    }
}


@router.get("/v1/documents", response_model=list[DocumentOut], summary="The indexed documents")
def list_documents(service: ServiceDep) -> list[dict[str, Any]]:
    try:
        return [d.to_dict() for d in service.reader().documents()]
    except IndexNotFoundError:
        return []


@router.post("/v1/documents", response_model=SummaryOut, openapi_extra=UPLOAD_BODY,
             summary="Add files (multipart, field 'files') or text (JSON)")  # fmt: skip
async def add_documents(request: Request, service: ServiceDep) -> Any:
    rag = service.rag
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await _add_files(request, service, rag)
    if kind in ("application/json", ""):
        try:
            body = TextDocumentRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise ApiError(422, f"{where}: {first.get('msg')}" if where else first["msg"]) from None
        doc = text_document(body.text, body.title, body.source)

        def add() -> IndexSummary:
            with service.write_lock:
                return rag.add_documents([doc])

        return _summary(await run_in_threadpool(add), [doc.doc_id])
    raise ApiError(415, "send multipart/form-data files or a JSON {text, title, source?}")


async def _add_files(request: Request, service: Service, rag: Rag) -> dict[str, Any]:
    limit = service.api.max_upload_files
    form = await request.form(max_files=limit, max_fields=limit)
    try:
        uploads = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
        if not uploads:
            raise ApiError(422, "no files in the form (use the field 'files')")
        files: list[tuple[str, BinaryIO]] = [(u.filename or "", u.file) for u in uploads]

        def add(paths: list[Path]) -> IndexSummary:
            try:
                return rag.add(paths)
            except BadInputError as exc:  # one upload that cannot be read: name it, not where
                folder = f"{service.uploads.resolve()}{os.sep}"
                raise ApiError(400, str(exc).replace(folder, ""), type="bad_input") from None

        def save_and_add() -> tuple[list[Path], IndexSummary]:
            with service.write_lock:
                return store_and_index(service.uploads, files, add)

        paths, summary = await run_in_threadpool(save_and_add)
    finally:
        await form.close()
    return _summary(summary, [doc_id_for(str(p.resolve())) for p in paths])


@router.delete("/v1/documents/{doc_id}", response_model=SummaryOut,
               summary="Delete a document (and its uploaded file)")  # fmt: skip
def delete_document(doc_id: str, service: ServiceDep) -> dict[str, Any]:
    missing = ApiError(404, f"no document with id '{doc_id[:80]}'")
    with service.write_lock:  # a worker thread: this handler is sync
        rag = service.fresh()  # a document `rag index` added a moment ago is found
        try:
            match = [d for d in rag.documents() if d.doc_id == doc_id]
        except IndexNotFoundError:
            match = []
        if not match:
            raise missing
        try:
            summary = rag.remove(doc_id)  # decided again under the index's writer lock
        except BadInputError:
            raise missing from None
        if not summary.removed:  # another process removed it in between
            raise missing
        if is_upload(service.uploads, match[0].source):
            Path(match[0].source).unlink(missing_ok=True)
    return _summary(summary, [doc_id])


def _summary(summary: IndexSummary, doc_ids: list[str]) -> dict[str, Any]:
    return {**summary.to_dict(), "doc_ids": doc_ids}
