"""Settings of the HTTP layer only, read from ``RAG_`` environment variables.

The library's own knobs stay in :class:`rag.Settings`; these are the ones a
service needs on top (key, limits, queue, CORS). Tests pass an instance to
:func:`api.app.create_app` instead of setting the environment.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import BadInputError


class ApiSettings(BaseSettings):
    """Limits and security of ``rag serve``."""

    model_config = SettingsConfigDict(env_prefix="RAG_", frozen=True, extra="ignore")

    api_key: SecretStr | None = Field(
        default=None,
        description="When set, every endpoint but /healthz needs 'Authorization: Bearer <key>'.",
    )
    max_question_chars: int = Field(default=2000, ge=1, le=2000)
    max_k: int = Field(default=20, ge=1, le=100, description="Largest k a request may ask for.")
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, ge=1024, description="Largest request body (uploads included)."
    )
    max_upload_files: int = Field(default=20, ge=1, le=1000)
    max_messages: int = Field(default=64, ge=1, description="Chat messages per completion request.")
    queue_size: int = Field(
        default=4, ge=0, le=1000, description="Answers that may wait behind the one generating."
    )
    cors_origins: str = Field(
        default="", description="Comma-separated origins allowed by CORS; empty means CORS off."
    )
    reload_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Least time between two looks for a generation written elsewhere "
        "(0: before every request; a look is one small file read, the reload runs on a thread).",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's headers, from connecting or "
        "from the previous response; then the connection is closed.",
    )
    keep_alive_seconds: int = Field(
        default=5, ge=1, description="An idle kept-alive connection is closed after this long."
    )
    max_connections: int = Field(
        default=1000,
        ge=4,
        description="Open connections; beyond it the one waiting longest for its headers "
        "is closed to make room.",
    )
    max_header_bytes: int = Field(
        default=16 * 1024, ge=1024, description="Largest request line plus headers (400 beyond)."
    )

    @field_validator("api_key")
    @classmethod
    def _empty_key_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return value

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


def from_environment() -> ApiSettings:
    """The settings from ``RAG_`` variables; a bad value is one line naming the variable."""
    try:
        return ApiSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc") or ("?",)
        raise BadInputError(f"RAG_{str(loc[0]).upper()}: {first['msg']}") from None
