"""``GET /v1/models``: the one model OpenAI clients can name (any name is accepted)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.errors import ApiError
from api.openai_compat import MODEL_ID, model_card
from api.service import ServiceDep

router = APIRouter(tags=["openai"])


@router.get("/v1/models", summary="The models (one: 'rag')")
def list_models(service: ServiceDep) -> dict[str, Any]:
    return {"object": "list", "data": [model_card(service.started)]}


@router.get("/v1/models/{model_id}", summary="One model")
def get_model(model_id: str, service: ServiceDep) -> dict[str, Any]:
    if model_id != MODEL_ID:
        raise ApiError(404, f"no model '{model_id[:80]}' (this service has one: '{MODEL_ID}')")
    return model_card(service.started)
