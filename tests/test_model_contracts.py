"""The embedder and generator contracts (:mod:`rag.testing_contracts`) against every implementation.

The fakes run in the fast tests; the packaged MiniLM (torch and ONNX) and SmolLM2-135M
through llama.cpp run as integration tests, each model loaded once per class.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from rag.embedding import Embedder, SentenceTransformerEmbedder
from rag.errors import GenerationError
from rag.generation import Generator, LlamaCppGenerator
from rag.models import resolve_llm
from rag.onnx_embedding import OnnxEmbedder
from rag.testing import CannedGenerator, EmbeddingContract, GeneratorContract, HashEmbedder

ROOT = Path(__file__).resolve().parent.parent


class TestHashEmbedder(EmbeddingContract):
    @pytest.fixture
    def embedder(self) -> Embedder:
        return HashEmbedder()


class TestCannedGenerator(GeneratorContract):
    @pytest.fixture
    def generator(self) -> Generator:
        return CannedGenerator('{"answer": "Blue."}')


@pytest.mark.integration
class TestSentenceTransformerEmbedder(EmbeddingContract):
    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls) -> Embedder:
        return SentenceTransformerEmbedder()


@pytest.mark.integration
class TestOnnxEmbedder(EmbeddingContract):
    @pytest.fixture(scope="class")
    @classmethod
    def embedder(cls, tmp_path_factory: pytest.TempPathFactory) -> Embedder:
        return OnnxEmbedder(cache_dir=tmp_path_factory.mktemp("onnx-cache"))


@pytest.mark.integration
class TestLlamaCppGenerator(GeneratorContract):
    @pytest.fixture(scope="class")
    @classmethod
    def generator(cls, tmp_path_factory: pytest.TempPathFactory) -> Generator:
        path = resolve_llm("smollm2-135m", tmp_path_factory.mktemp("models"))
        return LlamaCppGenerator(path, n_ctx=1024)


def test_the_fake_generator_has_a_context_like_a_model() -> None:
    gen = CannedGenerator('{"answer": "x"}', context=10)
    assert gen.generate([{"role": "user", "content": "0123456789"}]) == '{"answer": "x"}'
    with pytest.raises(GenerationError, match="longer than the context"):
        gen.generate([{"role": "user", "content": "0123456789!"}])


def test_the_fakes_load_without_pytest() -> None:
    modules = "('pytest', 'rag.testing_contracts')"
    code = f"import sys, rag.testing; print(*(m in sys.modules for m in {modules}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "False"], out.stderr
