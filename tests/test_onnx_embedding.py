"""The ONNX embedding backends, on a tiny randomly initialised BERT made here (no hub)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from rag import Settings
from rag.embedding import PACKAGED_NAME, SentenceTransformerEmbedder, make_embedder
from rag.errors import ModelError
from rag.onnx_embedding import INT8_SUFFIX, OnnxEmbedder, ensure_export

ROOT = Path(__file__).resolve().parent.parent
WORDS = ["the", "a", "us", "iraq", "troops", "left", "in", "september", "2024", "bread"]
TEXTS = [
    "the us troops left iraq in september 2024",
    "bread in the us in 2024",
    "bread",
    "the " * 200,  # longer than max_seq_length: truncated, as sentence-transformers does
]


def _tiny_model(folder: Path, pooling: str = "mean") -> Path:
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS]
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=48, max_position_embeddings=64,
    )  # fmt: skip
    BertModel(config).save_pretrained(str(folder))
    tok = Tokenizer(models.WordPiece({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    tok.save(str(folder / "tokenizer.json"))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 48}))
    st = "sentence_transformers.models."
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": st + "Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": st + "Pooling"},
    ]
    (folder / "modules.json").write_text(json.dumps(modules))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps(
            {"word_embedding_dimension": 32, "pooling_mode_mean_tokens": pooling == "mean",
             "pooling_mode_cls_token": pooling == "cls"}
        )
    )  # fmt: skip
    return folder


def _reference(folder: Path, texts: list[str]) -> np.ndarray:
    """What sentence-transformers computes: tokens (truncated), mean pooling, L2 norm."""
    import torch
    from tokenizers import Tokenizer
    from transformers import BertModel

    model = BertModel.from_pretrained(str(folder)).eval()
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(48)
    out = []
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([tok.encode(t).ids])
            hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
            v = hidden.mean(1)[0].numpy()
            out.append(v / np.linalg.norm(v))
    return np.array(out, dtype=np.float32)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("onnx")
    model = _tiny_model(base / "tiny-bert")
    cache = base / "cache"
    ensure_export(str(model), cache)
    return model, cache


def test_onnx_matches_the_pytorch_vectors(tiny: tuple[Path, Path]) -> None:
    model, cache = tiny
    emb = OnnxEmbedder(str(model), cache_dir=cache, batch_size=2)
    got = emb.embed(TEXTS)
    assert got.shape == (len(TEXTS), 32) and got.dtype == np.float32
    np.testing.assert_allclose(got, _reference(model, TEXTS), atol=1e-5)
    # Batching and padding do not change a text's vector.
    np.testing.assert_allclose(emb.embed(TEXTS[2:3]), got[2:3], atol=1e-5)
    assert emb.embed([]).shape == (0, 32)


def test_int8_is_close_and_named_apart(tiny: tuple[Path, Path]) -> None:
    model, cache = tiny
    fp32 = OnnxEmbedder(str(model), cache_dir=cache)
    int8 = OnnxEmbedder(str(model), cache_dir=cache, quantized=True)
    a, b = fp32.embed(TEXTS), int8.embed(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert (a * b).sum(1).min() > 0.9
    assert fp32.name == str(model) and int8.name == str(model) + INT8_SUFFIX


def test_export_is_cached(tiny: tuple[Path, Path]) -> None:
    model, cache = tiny
    folder = ensure_export(str(model), cache)
    files = {f.name: f.stat().st_mtime_ns for f in folder.iterdir()}
    assert {"model.onnx", "model-int8.onnx", "tokenizer.json", "meta.json"} <= set(files)
    assert ensure_export(str(model), cache) == folder
    assert {f.name: f.stat().st_mtime_ns for f in folder.iterdir()} == files


def test_failed_export_is_one_clear_error(tmp_path: Path) -> None:
    model = _tiny_model(tmp_path / "broken")
    (model / "config.json").write_text("{not json")
    with pytest.raises(ModelError, match="cannot export embedding model") as err:
        ensure_export(str(model), tmp_path / "cache")
    assert "\n" not in str(err.value)
    assert not list((tmp_path / "cache").rglob("meta.json"))


def test_unsupported_models_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="local model folder"):
        ensure_export("someone/some-hub-model", tmp_path)
    cls = _tiny_model(tmp_path / "cls", pooling="cls")
    with pytest.raises(ModelError, match="mean-pooling"):
        ensure_export(str(cls), tmp_path / "cache")


def test_backend_setting_picks_the_embedder(tmp_path: Path) -> None:
    torch_emb = make_embedder(Settings(embedding_backend="torch", cache_dir=tmp_path))
    onnx_emb = make_embedder(Settings(embedding_backend="onnx", cache_dir=tmp_path))
    int8_emb = make_embedder(Settings(embedding_backend="onnx-int8", cache_dir=tmp_path))
    assert isinstance(torch_emb, SentenceTransformerEmbedder)
    assert isinstance(onnx_emb, OnnxEmbedder) and isinstance(int8_emb, OnnxEmbedder)
    # Same vectors, same name (indexes open with either); int8 is another model.
    assert torch_emb.name == onnx_emb.name == PACKAGED_NAME
    assert int8_emb.name == PACKAGED_NAME + INT8_SUFFIX
    with pytest.raises(ValidationError):
        Settings(embedding_backend="tensorflow")


def test_cli_help_imports_no_heavy_modules() -> None:
    code = (
        "import sys, rag.cli\n"
        "heavy = {'numpy', 'faiss', 'torch', 'pydantic_settings', 'onnxruntime'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == "[]"


@pytest.mark.integration
def test_packaged_model_backends(tmp_path: Path) -> None:
    """The shipped MiniLM: onnx equals torch, so a torch-built index opens with it; int8
    vectors are close but another model, so the same index refuses it."""
    from rag import Rag
    from rag.errors import EmbeddingMismatchError

    base = Settings(index=tmp_path / "index", llm="none", cache_dir=tmp_path / "cache")
    texts = ["When did the US announce leaving Iraq?", "Knead the dough for ten minutes."]
    torch_emb = make_embedder(base.model_copy(update={"embedding_backend": "torch"}))
    onnx_settings = base.model_copy(update={"embedding_backend": "onnx"})
    int8_settings = base.model_copy(update={"embedding_backend": "onnx-int8"})
    ref = torch_emb.embed(texts)
    np.testing.assert_allclose(make_embedder(onnx_settings).embed(texts), ref, atol=1e-4)
    assert (make_embedder(int8_settings).embed(texts) * ref).sum(1).min() > 0.97

    rag = Rag.open(base.index, base, create=True, embedder=torch_emb)
    rag.add_text("In September 2024, the United States announced the end of its mission in Iraq.")
    assert Rag.open(base.index, onnx_settings).search("US leaving Iraq", 1)
    with pytest.raises(EmbeddingMismatchError, match="RAG_EMBEDDING_BACKEND"):
        Rag.open(base.index, int8_settings)
