"""The ``rag`` command: a thin layer over :class:`rag.Rag`.

Exit codes: 0 success, 2 bad input (one line on stderr), 1 internal failure.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rag.errors import RagError, first_line
from rag.types import place

if TYPE_CHECKING:  # settings, numpy, faiss and the models load only in commands that use them
    from rag.config import Settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Ask your documents questions; get answers with citations you can check.",
    pretty_exceptions_enable=False,
)

IndexOpt = Annotated[
    Path | None, typer.Option("--index", help="Index folder (default: $RAG_INDEX or ./index).")
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="milvus:///abs/path/file.db or milvus://host:19530[?collection=NAME] "
        "instead of the index folder (default: $RAG_STORE).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
KOpt = Annotated[int | None, typer.Option("--k", "-k", help="Passages to retrieve.")]
LlmOpt = Annotated[
    str | None,
    typer.Option("--llm", help="Packaged LLM name, path to a .gguf file, or 'none'."),
]
NoLlmOpt = Annotated[bool, typer.Option("--no-llm", help="Extractive answers, no LLM.")]
EmbedOpt = Annotated[
    str | None, typer.Option("--embedding-model", help="sentence-transformers model or folder.")
]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="CPU threads for the LLM.")]


def _settings(**overrides: Any) -> Settings:
    from rag.config import Settings

    base = Settings()
    update = {k: v for k, v in overrides.items() if v is not None}
    return base.model_copy(update=update) if update else base


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _open(settings: Settings, *, create: bool = False) -> Any:
    from rag.pipeline import Rag

    return Rag.open(settings.index, settings, create=create)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _print_answer(answer: Any, *, full_quotes: bool = False) -> None:
    typer.echo(answer.answer)
    if answer.citations:
        typer.echo("")
        typer.secho("Sources:", bold=True)
        for c in answer.citations:
            quote = " ".join(c.quote.split()) if full_quotes else _short(c.quote)
            typer.echo(f'[{c.n}] {c.title} — "{quote}" ({place(c.source, c.line, c.page)})')
    elif answer.related:
        typer.echo("")
        typer.secho("Nearest passages (they do not answer it):", bold=True)
        for h in answer.related[:3]:
            typer.echo(f'- {h.title} — "{_short(h.text, 120)}" ({place(h.source, h.line, h.page)})')


@app.command()
def index(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to add or update.")],
    index: IndexOpt = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
    embedding_model: EmbedOpt = None,
    chunk_size: Annotated[int | None, typer.Option(help="Chunk size, characters.")] = None,
    chunk_overlap: Annotated[int | None, typer.Option(help="Chunk overlap, characters.")] = None,
    watch: Annotated[
        bool,
        typer.Option("--watch", help="Then keep the index in step with the folders until Ctrl-C."),
    ] = False,
) -> None:
    """Add or update files and folders (.txt, .md, .html, .pdf)."""
    settings = _settings(
        index=index, store=store, embedding_model=embedding_model,
        chunk_size=chunk_size, chunk_overlap=chunk_overlap,
    )  # fmt: skip
    if watch:
        _watch(paths, settings, json_out)
        return
    rag = _open(settings, create=True)
    summary = rag.add(
        paths,
        progress=sys.stderr.isatty() and not json_out,
        on_skip=lambda msg: typer.echo(f"warning: skipped {msg}", err=True),
    )
    if json_out:
        _print_json(summary.to_dict())
        return
    typer.echo(_summary_line(summary, rag.store.location))


def _summary_line(summary: Any, location: str) -> str:
    return (
        f"{summary.documents} documents ({summary.added} added, {summary.updated} updated, "
        f"{summary.unchanged} unchanged, {summary.removed} removed), {summary.chunks} chunks, "
        f"{summary.embedded} embedded"
        + (f", {len(summary.skipped)} files skipped" if summary.skipped else "")
        + f" → {location}"
    )


def _watch(paths: list[Path], settings: Settings, json_out: bool) -> None:
    """``rag index FOLDER... --watch``: synchronise, then one line (or JSON line) per burst."""
    from rag.watch import Folders, watch

    Folders(paths)  # a missing folder or a file is exit 2 before anything loads
    rag = _open(settings, create=True)

    def burst(b: Any) -> None:
        if json_out:
            typer.echo(json.dumps(b.to_dict(), ensure_ascii=False))
        elif b.initial:
            typer.echo(_summary_line(b.summary, rag.store.location))
        else:
            typer.echo(b.line())

    watch(
        rag, paths, on_burst=burst,
        on_skip=lambda msg: typer.echo(f"warning: skipped {msg}", err=True),
        on_error=lambda msg: typer.echo(f"error: {msg} (will try again)", err=True),
        on_ready=lambda: typer.echo(
            f"watching {', '.join(str(p) for p in paths)} (Ctrl-C stops)", err=True
        ),
    )  # fmt: skip
    typer.echo("stopped watching", err=True)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.")],
    index: IndexOpt = None,
    store: StoreOpt = None,
    k: KOpt = None,
    json_out: JsonOpt = False,
    llm: LlmOpt = None,
    no_llm: NoLlmOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Answer a question from the index, with citations."""
    if not question.strip():
        _fail("the question is empty", 2)
    settings = _settings(index=index, store=store, llm="none" if no_llm else llm, threads=threads)
    rag = _open(settings)
    answer = rag.ask(question, k)
    if json_out:
        _print_json(answer.to_dict())
    else:
        _print_answer(answer)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    index: IndexOpt = None,
    store: StoreOpt = None,
    k: KOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show the passages that best match a query."""
    if not query.strip():
        _fail("the query is empty", 2)
    rag = _open(_settings(index=index, store=store))
    hits = rag.search(query, k)
    if json_out:
        _print_json([h.to_dict() for h in hits])
        return
    for i, h in enumerate(hits, start=1):
        typer.secho(
            f"[{i}] {h.title}  (score {h.score:.4f}, {place(h.source, h.line, h.page)})", bold=True
        )
        typer.echo(f"    {_short(h.text, 300)}")


@app.command()
def docs(index: IndexOpt = None, store: StoreOpt = None, json_out: JsonOpt = False) -> None:
    """List the indexed documents."""
    rag = _open(_settings(index=index, store=store))
    documents = rag.documents()
    if json_out:
        _print_json([d.to_dict() for d in documents])
        return
    if not documents:
        typer.echo("the index is empty")
    for d in documents:
        date = f" {d.date}" if d.date else ""
        typer.echo(f"{d.doc_id}  {d.chunks:4d} chunks{date}  {d.title}\n    {d.source}")


@app.command()
def remove(
    doc: Annotated[str, typer.Argument(help="Document id or source path.")],
    index: IndexOpt = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Delete a document from the index."""
    rag = _open(_settings(index=index, store=store))
    summary = rag.remove(doc)
    if json_out:
        _print_json(summary.to_dict())
    else:
        typer.echo(f"removed {doc}; {summary.documents} documents, {summary.chunks} chunks left")


@app.command()
def check(
    index: IndexOpt = None,
    json_out: JsonOpt = False,
    repair: Annotated[
        bool, typer.Option("--repair", help="Rebuild damaged BM25 and vector files.")
    ] = False,
    embedding_model: EmbedOpt = None,
) -> None:
    """Verify every file of the index (sizes, sha256, structure); exit 2 when one is damaged."""
    from rag.verify import check_index, print_report, repair_index

    settings = _settings(index=index, embedding_model=embedding_model)
    if settings.store:
        _fail("rag check verifies index folders; Milvus checks its own data", 2)
    folder = Path(settings.index).expanduser().resolve()
    if repair:
        from rag.embedding import make_embedder

        report = repair_index(folder, lambda: make_embedder(settings))
    else:
        report = check_index(folder)
    if json_out:
        _print_json(report.to_dict())
    else:
        print_report(report, typer.echo)
    if not report.ok:
        _fail(report.summary(), 2)


@app.command()
def show(
    doc: Annotated[str, typer.Argument(help="Document id or source path.")],
    span: Annotated[
        str | None, typer.Option("--span", help="START:END offsets, as a citation gives them.")
    ] = None,
    context: Annotated[
        int | None, typer.Option("--context", help="Characters each side of the span (300).")
    ] = None,
    index: IndexOpt = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Show a document's text, or a cited span in its context, highlighted."""
    start = end = None
    if span is not None:
        start, end = _parse_span(span)
    rag = _open(_settings(index=index, store=store))
    view = rag.document_text(doc, start=start, end=end, context=context)
    if json_out:
        _print_json(view.to_dict())
    else:
        _print_document_text(view)


def _parse_span(span: str) -> tuple[int, int]:
    a, sep, b = span.partition(":")
    if not sep or not a.strip().isdigit() or not b.strip().isdigit():
        _fail(f"--span must be START:END (two offsets, as 312:530), not '{span[:40]}'", 2)
    return int(a), int(b)


def _print_document_text(view: Any) -> None:
    """The text with the span in reverse video (rich; plain when not on a terminal)."""
    from rich.console import Console
    from rich.text import Text

    console = Console(highlight=False, soft_wrap=True)
    where = place(view.source, 1, view.page).removesuffix(":1")
    head = f"{view.title} — {where}"
    if view.start is not None:
        head += f" [{view.start}:{view.end}]"
    console.print(Text(head, style="bold"))
    text, at = view.text, view.offset
    out = Text("…" if at > 0 else "")
    if view.start is None:
        out.append(text)
    else:
        a, b = view.start - at, view.end - at
        out.append(text[:a])
        out.append(text[a:b], style="bold reverse")
        out.append(text[b:])
    if at + len(text) < view.length:
        out.append("…")
    console.print(out)


@app.command()
def chat(
    index: IndexOpt = None,
    store: StoreOpt = None,
    k: KOpt = None,
    llm: LlmOpt = None,
    no_llm: NoLlmOpt = False,
    threads: ThreadsOpt = None,
) -> None:
    """Ask questions one after another. /sources shows the quotes; Ctrl-D leaves."""
    from rag.chat import run_chat

    settings = _settings(index=index, store=store, llm="none" if no_llm else llm, threads=threads)
    run_chat(_open(settings), k, print_answer=_print_answer)


@app.command()
def serve(
    index: IndexOpt = None,
    store: StoreOpt = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    llm: LlmOpt = None,
    no_llm: NoLlmOpt = False,
    watch: Annotated[
        list[Path] | None,
        typer.Option("--watch", help="Keep the served index in step with this folder (repeat)."),
    ] = None,
) -> None:
    """Run the HTTP service (OpenAPI docs at /docs)."""
    try:
        from api.app import serve as run_server
    except ImportError as exc:
        _fail(f"the HTTP service is not available: {exc}", 1)
        return
    if watch:
        from rag.watch import Folders

        Folders(watch)  # a missing folder or a file is exit 2 before the server starts
    settings = _settings(index=index, store=store, llm="none" if no_llm else llm)
    run_server(settings, host=host, port=port, watch=watch or [])


@app.command(name="eval")
def evaluate(
    file: Annotated[Path, typer.Argument(help="QA file: our JSONL or the RGB format.")],
    index: IndexOpt = None,
    store: StoreOpt = None,
    k: KOpt = None,
    json_out: JsonOpt = False,
    llm: LlmOpt = None,
    no_llm: NoLlmOpt = False,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    build: Annotated[
        bool, typer.Option(help="For RGB files: pool the passages and (re)build the index.")
    ] = True,
) -> None:
    """Measure accuracy, citation precision, hit rate, abstention and latency on a QA file."""
    from rag.evaluation import evaluate_file, format_report

    settings = _settings(index=index, store=store, llm="none" if no_llm else llm)
    report = evaluate_file(
        file, settings, k=k, limit=limit, build=build, progress=sys.stderr.isatty()
    )
    if json_out:
        _print_json(report)
    else:
        typer.echo(format_report(report))


def main() -> None:
    """Entry point: turn library errors into one line on stderr and an exit code."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        code = app(standalone_mode=False)
    except RagError as exc:
        # One line, whatever the message wrapped (numpy's errors about a .npy span several).
        typer.echo(f"error: {first_line(exc)}", err=True)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, EOFError):
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        # Usage errors from click (typer may carry its own copy of click, so duck-type).
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            typer.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(int(exc.exit_code) or 1)
        if type(exc).__name__ == "Abort":
            typer.echo("aborted", err=True)
            sys.exit(130)
        typer.echo(f"internal error: {type(exc).__name__}: {first_line(exc)}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
