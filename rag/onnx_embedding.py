"""ONNX Runtime embedder: the same sentence-transformers model, exported locally once.

Backends (``RAG_EMBEDDING_BACKEND``):

* ``onnx``: the model exported to ONNX in fp32, mean pooling and normalisation
  inside the graph. Its vectors equal the PyTorch ones to float rounding, so it
  shares the model's name (an index built with ``torch`` opens with ``onnx`` and
  back).
* ``onnx-int8``: the same graph with dynamic int8 quantisation of the weight
  matrices (per channel). Vectors differ slightly (mean cosine to PyTorch ~0.99),
  so its name carries a suffix and an index records which one built it.

The export runs once per model and is cached under ``cache_dir/onnx/``; it needs
PyTorch and transformers, but afterwards embedding needs only ``onnxruntime`` and
``tokenizers`` (no ``import torch``: a cold ``rag ask`` saves seconds). No hub
access: the model comes from the packaged folder or a local path.

Why not ``SentenceTransformer(backend="onnx")``: it needs ``optimum-onnx``, which
pins ``transformers<4.58`` and would downgrade the installed one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rag.embedding import PACKAGED_EMBEDDERS, PACKAGED_NAME, resolve_embedding_model
from rag.errors import ModelError, first_line

INT8_SUFFIX = "+onnx-int8"
FORMAT_VERSION = 1
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def _model_key(location: Path) -> str:
    """Cache key: the model folder and its weights' size and mtime (no hashing of 90 MB)."""
    h = hashlib.sha256(f"v{FORMAT_VERSION}:{location}".encode())
    for name in ("config.json", "tokenizer.json", *_WEIGHTS):
        f = location / name
        if f.exists():
            st = f.stat()
            h.update(f"{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    slug = re.sub(
        r"[^A-Za-z0-9_.-]+",
        "-",
        location.name if location.name != "model" else location.parent.name,
    )
    return f"{slug}-{h.hexdigest()[:12]}"


def _read_json(path: Path) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _check_pooling(location: Path) -> None:
    """The graph does mean pooling then L2 normalisation: refuse models that do otherwise."""
    modules_file = location / "modules.json"
    if not modules_file.exists():
        raise ModelError(f"{location} is not a sentence-transformers folder (no modules.json)")
    for module in json.loads(modules_file.read_text(encoding="utf-8")):
        if module.get("type", "").endswith("Pooling"):
            cfg = _read_json(location / module["path"] / "config.json")
            if not cfg.get("pooling_mode_mean_tokens") or any(
                v for k, v in cfg.items() if k.startswith("pooling_mode_") and "mean" not in k
            ):
                raise ModelError("the ONNX backend supports mean-pooling models only")


def _atomic_write(target: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_onnx(location: Path, folder: Path) -> None:
    """Export ``location`` (a local sentence-transformers folder) into ``folder``.

    Writes ``model.onnx`` (fp32), ``model-int8.onnx``, ``tokenizer.json`` and, last,
    ``meta.json`` (its presence marks a complete export). Imports torch.
    """
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    _check_pooling(location)
    folder.mkdir(parents=True, exist_ok=True)
    st_cfg_file = location / "sentence_bert_config.json"
    max_len = (
        int(_read_json(st_cfg_file).get("max_seq_length", 512)) if st_cfg_file.exists() else 512
    )
    model = AutoModel.from_pretrained(str(location), attn_implementation="eager").eval()
    max_len = min(max_len, int(getattr(model.config, "max_position_embeddings", max_len)))

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    ids = torch.ones((2, 8), dtype=torch.long)
    axes = {"batch": 0, "seq": 1}
    dynamic = {
        n: {v: k for k, v in axes.items()}
        for n in ("input_ids", "attention_mask", "token_type_ids")
    }
    dynamic["embedding"] = {0: "batch"}
    import logging
    import warnings

    quiet = logging.getLogger()  # the quantiser logs advice to the root logger
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            _atomic_write(
                folder / "model.onnx",
                lambda tmp: torch.onnx.export(
                    Pooled(model), (ids, torch.ones_like(ids), torch.zeros_like(ids)), tmp,
                    input_names=["input_ids", "attention_mask", "token_type_ids"],
                    output_names=["embedding"], dynamic_axes=dynamic, opset_version=17,
                    dynamo=False,
                ),
            )  # fmt: skip
            # Per-channel int8 weights keep the vectors close (mean cosine 0.993 to fp32
            # on RGB passages; per-tensor gave 0.955); only MatMuls with constant weights.
            _atomic_write(
                folder / "model-int8.onnx",
                lambda tmp: quantize_dynamic(
                    str(folder / "model.onnx"), tmp, weight_type=QuantType.QInt8,
                    per_channel=True, extra_options={"MatMulConstBOnly": True},
                ),
            )  # fmt: skip
    finally:
        quiet.setLevel(level)
    _atomic_write(
        folder / "tokenizer.json",
        lambda tmp: Path(tmp).write_bytes((location / "tokenizer.json").read_bytes()),
    )
    meta = {
        "format": FORMAT_VERSION,
        "source": str(location),
        "dim": int(model.config.hidden_size),
        "max_seq_length": max_len,
    }
    _atomic_write(
        folder / "meta.json", lambda tmp: Path(tmp).write_text(json.dumps(meta), encoding="utf-8")
    )


def ensure_export(model: str, cache_dir: Path) -> Path:
    """The cached export folder for ``model``, built on first use (once per model)."""
    location = Path(resolve_embedding_model(model))
    if not location.is_dir():
        raise ModelError(
            f"the ONNX backend needs a local model folder; '{model}' is not one "
            "(use RAG_EMBEDDING_BACKEND=torch for hub models)"
        )
    if not (location / "tokenizer.json").exists():
        raise ModelError(f"the ONNX backend needs {location / 'tokenizer.json'}")
    folder = Path(cache_dir).expanduser() / "onnx" / _model_key(location)
    if (folder / "meta.json").exists():
        return folder
    try:
        export_onnx(location, folder)
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - any exporter failure is one clear message
        raise ModelError(
            f"cannot export embedding model '{model}' to ONNX in {folder}: {first_line(exc)} "
            "(RAG_EMBEDDING_BACKEND=torch works without it)"
        ) from None
    return folder


class OnnxEmbedder:
    """ONNX Runtime + tokenizers; the model exports (once) and loads on first use."""

    def __init__(
        self,
        model: str = "all-MiniLM-L6-v2",
        *,
        quantized: bool = False,
        cache_dir: Path | str | None = None,
        batch_size: int = 32,
        threads: int | None = None,
    ) -> None:
        self._configured = model
        self._quantized = quantized
        self._cache_dir = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "rag"
        self._batch_size = batch_size
        self._threads = threads
        self._session: Any = None
        self._tokenizer: Any = None
        self._dim: int | None = None

    @property
    def name(self) -> str:
        base = PACKAGED_NAME if self._configured.lower() in PACKAGED_EMBEDDERS else self._configured
        return base + INT8_SUFFIX if self._quantized else base

    def warm_up(self) -> None:
        if self._session is not None:
            return
        folder = ensure_export(self._configured, self._cache_dir)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelError(f"the ONNX backend needs onnxruntime: {exc}") from None
        meta = _read_json(folder / "meta.json")
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(int(meta["max_seq_length"]))
        pad_id = tokenizer.token_to_id("[PAD]")
        tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="[PAD]")
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        if self._threads:
            options.intra_op_num_threads = self._threads
        options.log_severity_level = 3
        # Memory patterns plan one block per input shape, and our shapes vary with every
        # batch: with them, `rag index` streaming in batches reached 587 MB peak where
        # one batch reached 427 MB; without, 432 MB, and encoding was no slower
        # (3 runs of 162 chunks in batches of 40, alternating: 2.64-3.66 s vs 2.75-4.27 s).
        options.enable_mem_pattern = False
        # No busy-waiting between ops (like OMP_WAIT_POLICY=PASSIVE for torch): on a
        # shared 2-core machine spinning threads made batch encoding 25 % slower.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = folder / ("model-int8.onnx" if self._quantized else "model.onnx")
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a corrupt cache file is one clear message
            raise ModelError(
                f"cannot load {path}: {first_line(exc)} (delete {folder} to export again)"
            ) from None
        self._tokenizer = tokenizer
        self._dim = int(meta["dim"])
        self._session = session

    @property
    def dim(self) -> int:
        self.warm_up()
        assert self._dim is not None
        return self._dim

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        self.warm_up()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Longest first, so each batch pads to similar lengths.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for a in range(0, len(order), self._batch_size):
            idx = order[a : a + self._batch_size]
            enc = self._tokenizer.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            (vectors,) = self._session.run(None, feeds)
            out[idx] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.maximum(norms, 1e-12)
        return out
