"""LLM generators: the :class:`Generator` protocol and the llama.cpp implementation."""

from __future__ import annotations

import contextlib
import json
import os
import re
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
    prefix is not processed again for the next question. Calls are serialised:
    a llama.cpp context is not thread-safe.

    A schema of one required string field (``{"answer": "..."}``) is generated whole
    once, under llama.cpp's JSON-schema grammar; the tokens it opened the object with
    (``{ "answer" : "``, 9 tokens with Qwen2.5, as the grammar splits them) are kept, and
    from then on written into the prompt, so the model writes only the string and ``"}``
    under a string grammar. Each generated token costs a forward pass (~0.1 s on 2
    cores); the head costs a ninth of that inside the prompt. The exact tokens matter:
    writing the same text tokenised naturally changed the 1.5B model's answers (seeds QA
    0.96 -> 0.92, one unanswerable question answered; docs/evaluation.md).
    """

    def __init__(self, model_path: Path, *, n_ctx: int = 4096, n_threads: int = 2) -> None:
        self._path = model_path
        self._n_ctx = n_ctx
        self._n_threads = n_threads
        self._llm: Any = None
        self._chat: Any = None  # the model's chat template, rendered to a prompt string
        self._heads: dict[str, list[int]] = {}  # field -> the tokens opening its object
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._path.name

    def warm_up(self) -> None:
        if self._llm is not None:
            return
        try:
            from llama_cpp import Llama
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelError("llama-cpp-python is not installed") from exc
        with _quiet_stderr():
            try:
                self._llm = Llama(
                    model_path=str(self._path),
                    n_ctx=self._n_ctx,
                    n_threads=self._n_threads,
                    n_threads_batch=self._n_threads,
                    n_batch=512,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise ModelError(f"cannot load LLM {self._path}: {exc}") from None
            # One token now, so the first question does not pay for llama.cpp's first-call setup.
            self._llm.create_completion("Hello", max_tokens=1, temperature=0.0)
        self._chat = _chat_formatter(self._llm)

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
        field = _string_field(schema) if self._chat is not None else None
        if field is not None and field in self._heads:
            return self._generate_string(messages, self._heads[field], max_tokens, on_token)
        kwargs: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "seed": 0,
        }
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        with self._lock:
            try:
                pieces: list[str] = []
                for chunk in self._llm.create_chat_completion(stream=True, **kwargs):
                    piece = chunk["choices"][0]["delta"].get("content") or ""
                    if piece:
                        pieces.append(piece)
                        if on_token is not None:
                            on_token(piece)
            except (ValueError, RuntimeError) as exc:
                raise GenerationError(f"the LLM failed: {exc}") from None
            if field is not None:
                self._learn_head(messages, field)
        return "".join(pieces)

    def _prompt_tokens(self, messages: Messages) -> list[int]:
        # As create_chat_completion does: the template writes its own special tokens.
        text = self._chat(messages=messages).prompt
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _learn_head(self, messages: Messages, field: str) -> None:
        """Keep the tokens the grammar-constrained reply just opened ``field``'s string with."""
        written = [int(t) for t in self._llm._input_ids[len(self._prompt_tokens(messages)) :]]
        opening = re.compile(r"\s*\{\s*" + re.escape(json.dumps(field)) + r'\s*:\s*"')
        for n in range(1, min(len(written), 24) + 1):
            text = self._llm.detokenize(written[:n]).decode("utf-8", errors="replace")
            if opening.fullmatch(text):
                self._heads[field] = written[:n]
                return

    def _generate_string(
        self, messages: Messages, head_tokens: list[int], max_tokens: int,
        on_token: TokenCallback | None,
    ) -> str:  # fmt: skip
        from llama_cpp import LlamaGrammar

        head = self._llm.detokenize(head_tokens).decode("utf-8")
        prompt = self._prompt_tokens(messages) + head_tokens
        grammar = LlamaGrammar.from_string(_STRING_REST, verbose=False)
        pieces = [head]
        with self._lock:
            try:
                for chunk in self._llm.create_completion(
                    prompt,
                    max_tokens=max_tokens,
                    temperature=0.0,
                    top_k=1,
                    seed=0,
                    grammar=grammar,
                    stream=True,
                ):
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        if on_token is not None:
                            # the head goes out with the first token the model wrote
                            on_token(piece if len(pieces) > 1 else head + piece)
                        pieces.append(piece)
            except (ValueError, RuntimeError) as exc:
                raise GenerationError(f"the LLM failed: {exc}") from None
        return "".join(pieces)


# The rest of a JSON object whose one string field is open: the string, then '"}'.
_STRING_REST = r"""
root ::= char* "\"}"
char ::= [^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" hex hex hex hex)
hex ::= [0-9a-fA-F]
"""


def _string_field(schema: dict[str, Any] | None) -> str | None:
    """The field of a schema that is an object of exactly one required string, or None."""
    if not schema or schema.get("type") != "object":
        return None
    props = schema.get("properties") or {}
    if len(props) != 1 or list(schema.get("required") or []) != list(props):
        return None
    name, spec = next(iter(props.items()))
    return name if isinstance(spec, dict) and spec.get("type") == "string" else None


def _chat_formatter(llm: Any) -> Any:
    """The model's own chat template (what ``create_chat_completion`` renders), or None."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    def text(token: int) -> str:
        return str(llm._model.token_get_text(token)) if token != -1 else ""

    return Jinja2ChatFormatter(
        template=template, eos_token=text(llm.token_eos()), bos_token=text(llm.token_bos())
    )


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
