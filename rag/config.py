"""One frozen settings object, read from ``RAG_`` environment variables.

CLI flags override fields with :meth:`Settings.model_copy`; nothing else in the
library reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
DEFAULT_LLM = "qwen2.5-coder-1.5b"


class Settings(BaseSettings):
    """Every knob of the product, with defaults that work offline on a laptop."""

    model_config = SettingsConfigDict(env_prefix="RAG_", frozen=True, extra="ignore")

    index: Path = Field(default=Path("index"), description="Folder of the index.")
    store: str | None = Field(
        default=None,
        description="Where the index lives instead of the folder: milvus:///abs/path/file.db "
        "(Milvus Lite, one process per file) or milvus://host:19530 (a Milvus server); "
        "optional ?collection=NAME (default rag).",
    )
    embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL,
        description="Packaged name, sentence-transformers model name, or local folder.",
    )
    embedding_backend: Literal["torch", "onnx", "onnx-int8"] = Field(
        default="onnx",
        description="onnx (exported once under cache_dir; same vectors as torch, no torch "
        "import), torch (sentence-transformers), or onnx-int8 (quantised: faster, slightly "
        "different vectors, so an index records it).",
    )
    llm: str = Field(
        default=DEFAULT_LLM,
        description="Packaged model name (smollm2-135m, qwen2.5-coder-0.5b, "
        "qwen2.5-coder-1.5b), a path to a .gguf file, or 'none' for extractive answers.",
    )
    llm_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible server (http://host:port/v1); "
        "when set, generation goes there instead of a local GGUF model.",
    )
    llm_api_key: str | None = Field(default=None, description="Bearer key for RAG_LLM_URL.")
    llm_timeout: float = Field(default=120.0, gt=0, description="Seconds per remote request.")
    chunk_size: int = Field(default=700, ge=100, le=20000, description="Chunk size, characters.")
    chunk_overlap: int = Field(default=200, ge=0, description="Overlap between chunks, characters.")
    top_k: int = Field(default=5, ge=1, le=100, description="Passages retrieved per question.")
    threads: int = Field(default=2, ge=1, le=256, description="CPU threads for the LLM.")
    context_size: int = Field(default=4096, ge=512, le=131072, description="LLM context, tokens.")
    max_answer_tokens: int = Field(default=160, ge=8, le=4096)
    prompt_chars: int = Field(
        default=1400,
        ge=100,
        le=100_000,
        description="Passage text the LLM reads per question, characters (~4 per token). "
        "On a CPU, reading the prompt is most of the wait for the first word: 1400 costs "
        "3-8 s with the 1.5B model on 2 cores, by CPU (docs/benchmarks.md, 'Answers').",
    )
    prompt_cache: bool = Field(
        default=True,
        description="Save the LLM's state after a process's first answer under "
        "cache_dir/prompt-cache and load it in the next process, so a new `rag ask` does "
        "not read the shared system prompt again (~1.3 s with the 1.5B model on 2 cores).",
    )
    llm_repack: bool = Field(
        default=False,
        description="Let llama.cpp repack the model's weights (its extra buffer types) at "
        "load: generates ~1.2x faster but reads prompts ~1.4x slower on 2 cores; refused "
        "by a llama.cpp built with AMX, whose kernels crash on some Xeon CPUs "
        "(docs/benchmarks.md, 'Weight repacking').",
    )
    evidence_threshold: float = Field(
        default=0.2, description="Abstain without asking the model below this evidence."
    )
    answer_off: str = Field(
        default="",
        description="Steps of the answer path to switch off, comma-separated (an ablation "
        "switch; names in rag.answer.STEPS). Empty: every step runs.",
    )
    batch_size: int = Field(default=32, ge=1, le=4096, description="Embedding batch size.")
    ingest_batch: int = Field(
        default=2048,
        ge=1,
        le=1_000_000,
        description="Chunks read, embedded and handed to the store per step of `rag index`: "
        "a write holds one such batch of texts and vectors besides the index itself.",
    )
    cache_dir: Path = Field(
        default=Path.home() / ".cache" / "rag",
        description="Where packaged GGUF parts are assembled and ONNX exports kept, once, "
        "and the LLM's saved state (prompt-cache/, ~13 MB per model; see prompt_cache).",
    )

    @property
    def llm_enabled(self) -> bool:
        return self.llm.strip().lower() not in {"", "none", "off", "false", "0"}
