"""Schemathesis fuzzes every operation of the OpenAPI schema: no input may cause a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from api_support import LiveServer, make_rag
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from api.app import create_app
from api.settings import ApiSettings
from rag import Settings

EXAMPLES = 30  # per operation; about 15 s in all


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder: Path = tmp_path_factory.mktemp("fuzz") / "index"
    rag = make_rag(folder)
    app = create_app(rag.settings, rag, api_settings=ApiSettings(api_key=None, queue_size=4))
    with LiveServer(app) as server:
        yield server


# The schema does not depend on the index, so it is built at import (nothing is opened).
schema = schemathesis.openapi.from_dict(
    create_app(Settings(llm="none"), api_settings=ApiSettings(api_key=None)).openapi()
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,  # nothing written to .hypothesis/
    suppress_health_check=list(HealthCheck),
)
def test_no_input_causes_a_server_error(case: schemathesis.Case, fuzzed_server: LiveServer) -> None:
    case.call_and_validate(base_url=fuzzed_server.url, checks=[not_a_server_error], timeout=30)
