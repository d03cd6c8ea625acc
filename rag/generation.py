"""LLM generators: the :class:`Generator` protocol and the llama.cpp implementation."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from rag.errors import GenerationError, ModelError

Messages = list[dict[str, str]]
TokenCallback = Callable[[str], None]


class Generator(Protocol):
    """Produces text for chat messages, optionally constrained by a JSON schema."""

    @property
    def name(self) -> str: ...

    def generate(
        self,
        messages: Messages,
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        on_token: TokenCallback | None = None,
    ) -> str:
        """Return the completion; call ``on_token`` with each piece as it is produced.

        Raises :class:`GenerationError` when the model fails.
        """
        ...


class LlamaCppGenerator:
    """llama-cpp-python, loaded once (on first use or :meth:`warm_up`), greedy decoding.

    llama.cpp keeps the KV cache of the previous prompt, so a fixed instruction
    prefix is not processed again for the next question. With ``prompt_cache`` (a
    folder) that cache outlives the process: the first completion of a process
    saves llama.cpp's state, and the next process loads it instead of reading the
    shared prefix again (for ``rag ask``, the system prompt: ~76 tokens, ~1.3 s
    on two cores). A missing, stale or unreadable file only means the prefix is
    read again. Calls are serialised: a llama.cpp context is not thread-safe.
    """

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int = 2,
        prompt_cache: Path | None = None,
        repack: bool = False,
    ) -> None:
        self._path = model_path
        self._repack = repack
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._llm: Any = None
        self._lock = threading.Lock()
        self._prompt_cache = prompt_cache
        self._state_file: Path | None = None  # named once the model loads (see warm_up)
        self._state_saved = False

    @property
    def name(self) -> str:
        return self._path.name

    def warm_up(self) -> None:
        if self._llm is not None:
            return
        try:
            self._llm = open_llama(
                self._path, n_ctx=self._n_ctx, n_threads=self._n_threads, repack=self._repack
            )
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelError("llama-cpp-python is not installed") from exc
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot load LLM {self._path}: {exc}") from None
        with _quiet_stderr():
            if self._prompt_cache is not None:
                # Here, not in __init__: naming it imports llama_cpp, which an answer that
                # abstains before generating never needs.
                self._state_file = self._prompt_cache / _state_name(self._path, self._n_ctx)
            if not self._restore_state():
                # One token now, so the first question does not pay for llama.cpp's
                # first-call setup.
                self._llm.create_completion("Hello", max_tokens=1, temperature=0.0)

    def _restore_state(self) -> bool:
        """Load the KV cache a previous process saved; ``False`` if there is none to use."""
        if self._state_file is None or not self._state_file.is_file():
            return False
        import ctypes

        import llama_cpp
        import numpy as np

        tokens = (llama_cpp.llama_token * self._n_ctx)()
        count = ctypes.c_size_t(0)
        ctx = self._llm._ctx.ctx
        path = str(self._state_file).encode()
        if not llama_cpp.llama_state_load_file(ctx, path, tokens, self._n_ctx, ctypes.byref(count)):
            self._llm.reset()  # a partial load is never reused: the next prompt resets
            return False
        n = int(count.value)
        self._llm.input_ids[:n] = np.array(tokens[:n], dtype=np.intc)
        self._llm.n_tokens = n
        self._llm._requires_eval = True  # the logits are not live: replay before sampling
        return True

    def _save_state(self) -> None:
        """Save the KV cache once per process, for the next one (see the class)."""
        if self._state_file is None or self._state_saved or not self._llm.n_tokens:
            return
        import llama_cpp

        self._state_saved = True
        n = int(self._llm.n_tokens)
        tokens = (llama_cpp.llama_token * n)(*self._llm.input_ids[:n].tolist())
        tmp = self._state_file.with_name(f".{self._state_file.name}.{os.getpid()}.tmp")
        try:
            self._state_file.parent.mkdir(parents=True, exist_ok=True)
            if llama_cpp.llama_state_save_file(self._llm._ctx.ctx, str(tmp).encode(), tokens, n):
                tmp.chmod(0o600)  # it holds the last prompt: the question and its passages
                os.replace(tmp, self._state_file)
        except OSError:
            pass  # a cache: the next process reads the prefix again
        finally:
            tmp.unlink(missing_ok=True)

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False))

    def generate(
        self,
        messages: Messages,
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        on_token: TokenCallback | None = None,
    ) -> str:
        self.warm_up()
        kwargs: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "seed": 0,
        }
        check = None
        if schema is not None:
            import llama_cpp
            from llama_cpp import LogitsProcessorList

            from rag.grammar import GrammarCheck, schema_grammar

            vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
            check = GrammarCheck(vocab, schema_grammar(schema))
            kwargs["logits_processor"] = LogitsProcessorList([check])
        with self._lock:
            stream = None
            try:
                stream = self._llm.create_chat_completion(stream=True, **kwargs)
                text = ""
                for chunk in stream:
                    piece = chunk["choices"][0]["delta"].get("content") or ""
                    if not piece:
                        continue
                    text += piece
                    if on_token is not None:
                        on_token(piece)
                    if schema is not None and (done := _closed_object(text, schema)):
                        # What is left is `}` and the end token: two forward passes for
                        # nothing the caller reads.
                        text = done
                        break
                self._save_state()
                return text
            except (ValueError, RuntimeError) as exc:
                raise GenerationError(f"the LLM failed: {exc}") from None
            finally:
                if stream is not None:
                    stream.close()
                if check is not None:
                    check.close()


def _closed_object(text: str, schema: dict[str, Any]) -> str | None:
    """``text`` closed with ``}`` once every property of ``schema`` has a complete value."""
    closed = text.rstrip() + "}"
    if not closed.endswith(('"}', "]}", "}}")):
        return None  # cheap test first; a number may still be growing, so never close on one
    try:
        value = json.loads(closed)
    except json.JSONDecodeError:
        return None
    names = schema.get("properties", {})
    if isinstance(value, dict) and names and all(name in value for name in names):
        return closed
    return None


def _state_name(model_path: Path, n_ctx: int) -> str:
    """A saved state is only valid for the same model file, context size and llama.cpp."""
    import hashlib

    from llama_cpp import __version__

    try:
        stat = model_path.stat()
        sig = f"{model_path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{n_ctx}|{__version__}"
    except OSError:
        sig = f"{model_path}|{n_ctx}|{__version__}"
    return f"{model_path.stem}-{hashlib.sha256(sig.encode()).hexdigest()[:16]}.llama-state"


def open_llama(
    path: Path, *, n_ctx: int, n_threads: int, repack: bool = False, **kwargs: Any
) -> Any:
    """A quiet ``llama_cpp.Llama`` for ``path``, loaded the way this product loads it.

    ``repack=False`` (the default) turns off llama.cpp's extra weight buffers (see
    :func:`_model_params`). Raises ``ImportError``, ``ValueError`` or ``RuntimeError``
    like ``Llama()`` does; ``ValueError`` before loading when ``repack`` is asked of a
    llama.cpp built with AMX, which would crash on the first prompt.
    """
    import llama_cpp
    from llama_cpp import Llama

    if repack and b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info():
        raise ValueError(
            "weight repacking (RAG_LLM_REPACK=1) crashes this llama-cpp-python, built with "
            "AMX (llama.cpp issue #20824): unset it, or rebuild without AMX (README)"
        )
    with _quiet_stderr(), _model_params(use_extra_bufts=repack):
        return Llama(
            model_path=str(path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_batch=512,
            verbose=False,
            **kwargs,
        )


_PARAMS_LOCK = threading.Lock()


@contextlib.contextmanager
def _model_params(**fields: Any) -> Iterator[None]:
    """Set llama.cpp model parameters that ``Llama()`` has no argument for.

    ``use_extra_bufts=False`` turns off llama.cpp's extra weight buffers: the AMX
    kernels, which crash in the first prompt on some Xeon CPUs (llama.cpp issue
    #20824; seen here), and the weight repacking, which reads prompts ~1.4x slower
    on this machine kind (docs/benchmarks.md). ``Llama()`` takes its parameters from
    ``llama_model_default_params``, so that function is wrapped while it runs.
    """
    import llama_cpp.llama_cpp as lc

    original = lc.llama_model_default_params

    def patched() -> Any:
        params = original()
        for name, value in fields.items():
            if hasattr(params, name):  # older llama.cpp builds lack newer fields
                setattr(params, name, value)
        return params

    with _PARAMS_LOCK:
        lc.llama_model_default_params = patched
        try:
            yield
        finally:
            lc.llama_model_default_params = original


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence llama.cpp's C-level log lines while a model loads."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)


def parse_json_answer(text: str) -> dict[str, Any]:
    """Parse the model's constrained JSON; tolerate a truncated tail."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        # Truncated by max_tokens: close the string and object.
        for suffix in ('"}', "}", '"]}'):
            try:
                value = json.loads(text + suffix)
                break
            except json.JSONDecodeError:
                continue
        else:
            raise GenerationError("the LLM returned malformed JSON") from None
    if not isinstance(value, dict):
        raise GenerationError("the LLM returned JSON that is not an object")
    return value
