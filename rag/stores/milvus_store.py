"""Milvus store: documents, chunks, vectors and BM25 full-text search in Milvus.

Selected with ``RAG_STORE`` / ``--store``:

* ``milvus:///absolute/path/file.db`` runs Milvus Lite in-process (one process per
  file: a second process that opens the same file gets a one-line error);
* ``milvus://host:19530`` talks to a Milvus standalone or cluster, which any
  number of ``rag serve`` replicas can share;
* ``?collection=NAME`` (default ``rag``) names the index; ``?token=...`` authenticates.

An index is three collections, ``NAME_chunks`` (id, document, offsets, line, text,
dense vector, and the sparse vector Milvus' BM25 function derives from the text),
``NAME_documents`` (one row per document) and ``NAME_meta`` (one row: store format,
embedding model and dimension, chunking, scripts). Nothing is cached between
questions except the meta row, so every replica answers from the same data.

Chunk ids are derived from the document id, its content hash and the chunk's
position, so re-running an interrupted write replaces rows instead of adding
duplicates. Writes are not atomic across documents: a reader can see a document
mid-update for the moment it takes. Run one writer at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from rag.documents import page_of
from rag.errors import BadInputError, IndexCorruptError, StoreUnavailableError, first_line
from rag.lexical import K1, B, analyze
from rag.scripts import script_profile
from rag.stores.base import Batch, DocRecord, IndexMeta, StoredChunk
from rag.types import Chunk

FORMAT = 1
_META_KEY = "index"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
_MAX_VARCHAR = 65_535
_INSERT_BATCH = 512
_DOC_FIELDS = ["doc_id", "source", "title", "hash", "date", "n_chunks", "page_starts"]
_QUERY_BATCH = 1_000
# BM25 runs in Milvus (its BM25 function and sparse index, its corpus statistics) over
# the terms rag.lexical.analyze gives (words, stopwords removed, stemmed), joined by
# spaces; with the same k1 and b the ranking matches the folder store's BM25.
_ANALYZER: dict[str, Any] = {"tokenizer": "standard"}
# BM25 functions and sparse vectors, which the chunks collection uses, came in Milvus 2.5
# (sparse vectors in 2.4). Milvus Lite reports its own version ("milvus_lite-3.2.2").
MIN_SERVER = (2, 5)
_SERVER_VERSION = re.compile(r"^v?(\d+)\.(\d+)")


def chunk_id_for(doc_id: str, doc_hash: str, position: int) -> int:
    """A stable positive int64 id for chunk ``position`` of one version of a document."""
    digest = hashlib.blake2b(f"{doc_id}:{doc_hash}:{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & ((1 << 63) - 1)


def check_server_version(version: str, uri: str) -> None:
    """Refuse a Milvus server older than :data:`MIN_SERVER` in one line (not at first write)."""
    match = _SERVER_VERSION.match(version.strip())
    if match and (int(match[1]), int(match[2])) < MIN_SERVER:
        need = ".".join(map(str, MIN_SERVER))
        raise StoreUnavailableError(
            f"Milvus {version} at {uri} is too old: rag needs Milvus {need} or newer "
            "(BM25 full-text search, sparse vectors)"
        )


def parse_url(url: str) -> tuple[str, str, str | None]:
    """``(uri for MilvusClient, collection prefix, token)`` from a ``milvus://`` URL."""
    parts = urlsplit(url)
    if parts.scheme not in {"milvus", "milvus+https"}:
        raise BadInputError(
            f"unknown store '{url}' (use milvus:///absolute/path/file.db or milvus://host:19530)"
        )
    query = parse_qs(parts.query)
    collection = query.get("collection", ["rag"])[0]
    if not _NAME.match(collection):
        raise BadInputError(
            f"bad collection name '{collection}' (letters, digits and _, not starting with a digit)"
        )
    token = query.get("token", [None])[0]
    if parts.netloc:
        scheme = "https" if parts.scheme == "milvus+https" else "http"
        return f"{scheme}://{parts.netloc}", collection, token
    if not parts.path.startswith("/") or not parts.path.endswith(".db"):
        raise BadInputError(
            f"a Milvus Lite store is an absolute path to a .db file: milvus:///path/file.db, "
            f"not '{url}'"
        )
    return parts.path, collection, token


class MilvusStore:
    """:class:`rag.stores.base.Store` in a Milvus collection set."""

    def __init__(self, uri: str, collection: str = "rag", token: str | None = None) -> None:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        # pymilvus logs every failed call with a traceback before raising; we raise
        # one-line errors ourselves.
        for name in ("pymilvus", "milvus_lite"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

        self._exc = MilvusException
        self._uri = uri
        self._prefix = collection
        self._chunks_c = f"{collection}_chunks"
        self._docs_c = f"{collection}_documents"
        self._meta_c = f"{collection}_meta"
        lite = not uri.startswith(("http://", "https://"))
        if lite:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            kwargs: dict[str, Any] = {"uri": uri}
            if token:
                kwargs["token"] = token
            if not lite:
                kwargs["timeout"] = 10
            self._client = MilvusClient(**kwargs)
        except Exception as exc:  # pymilvus raises several unrelated classes here
            first = first_line(exc)
            hint = (
                " (Milvus Lite opens a file from one process at a time; "
                "use a Milvus server to share an index)"
                if lite
                else ""
            )
            raise StoreUnavailableError(f"cannot open Milvus at {uri}: {first}{hint}") from None
        if not lite:
            check_server_version(str(self._call(self._client.get_server_version)), uri)
        self._meta: IndexMeta | None = None
        self._scripts: frozenset[str] = frozenset()
        self._loaded = False
        self.refresh()

    @classmethod
    def from_url(cls, url: str) -> MilvusStore:
        uri, collection, token = parse_url(url)
        return cls(uri, collection, token)

    @property
    def location(self) -> str:
        return f"milvus {self._uri} collection '{self._prefix}'"

    # -- reading ---------------------------------------------------------------------------

    def meta(self) -> IndexMeta | None:
        return self._meta

    def __len__(self) -> int:
        if self._meta is None:
            return 0
        rows = self._call(self._client.query, self._chunks_c, filter="", output_fields=["count(*)"])
        return int(rows[0]["count(*)"]) if rows else 0

    def documents(self) -> dict[str, DocRecord]:
        if self._meta is None:
            return {}
        rows = self._query_all(self._docs_c, 'doc_id != ""', _DOC_FIELDS)
        return {r["doc_id"]: _record(r) for r in rows}

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        if self._meta is None or not len(ids):
            return {}
        wanted = sorted({int(i) for i in ids})
        rows = self._call(
            self._client.query, self._chunks_c, filter=f"id in {wanted}",
            output_fields=["id", "doc_id", "start", "end", "line", "text"],
        )  # fmt: skip
        doc_ids = sorted({r["doc_id"] for r in rows})
        docs = {
            r["doc_id"]: _record(r)
            for r in self._call(
                self._client.query,
                self._docs_c,
                filter=f"doc_id in {json.dumps(doc_ids)}",
                output_fields=_DOC_FIELDS,
            )  # fmt: skip
        }
        out: dict[int, StoredChunk] = {}
        for r in rows:
            doc = docs.get(r["doc_id"])
            if doc is None:  # the document was deleted while we read
                continue
            cid = int(r["id"])
            # No page field in the collection (older ones would lack it): the page comes
            # from the page offsets stored with the document, a binary search.
            chunk = _chunk(cid, r, page_of(doc.page_starts, int(r["start"])))
            out[cid] = StoredChunk(chunk, int(r["line"]), doc)
        return out

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        if self._meta is None:
            return []
        data = [np.asarray(vector, dtype=np.float32).reshape(-1).tolist()]
        res = self._call(
            self._client.search, self._chunks_c, data=data, anns_field="vector", limit=k,
            search_params={"metric_type": "IP"}, output_fields=["id"],
        )  # fmt: skip
        return [(int(h["id"]), float(h["distance"])) for h in res[0]]

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        terms = " ".join(analyze(query))
        if self._meta is None or not terms:
            return []
        try:
            res = self._client.search(
                self._chunks_c, data=[terms], anns_field="sparse", limit=k,
                search_params={"metric_type": "BM25"}, output_fields=["id"],
            )  # fmt: skip
        except self._exc as exc:
            # A query of stop words only has no terms; Milvus refuses it.
            if "empty" in str(exc).lower():
                return []
            msg = f"Milvus full-text search failed: {first_line(exc)}"
            raise StoreUnavailableError(msg) from None
        # Milvus Lite reports BM25 as a negative distance, a server as a positive score;
        # both come best first.
        hits = [(int(h["id"]), abs(float(h["distance"]))) for h in res[0]]
        return [(cid, score) for cid, score in hits if score > 0]

    def scripts(self) -> frozenset[str]:
        return self._scripts

    # -- writing ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        # Milvus Lite is one process per file; a server has no lock: run one writer.
        self.refresh()
        yield

    def write(self, meta: IndexMeta, remove: Sequence[str], batches: Iterable[Batch]) -> None:
        if self._meta is None:
            self._create(meta)
        self._delete(remove)
        for add, vectors in batches:
            if len(vectors) != sum(len(d.chunks) for d in add):
                raise ValueError("one vector per chunk is needed")
            self._delete([d.record.doc_id for d in add])
            rows: list[dict[str, Any]] = []
            texts: list[str] = []
            row = 0
            for new in add:
                rec = new.record
                for i, (c, line) in enumerate(zip(new.chunks, new.lines, strict=True)):
                    if len(c.text.encode("utf-8")) > _MAX_VARCHAR:
                        raise BadInputError(
                            f"a chunk of {rec.source} is longer than Milvus allows "
                            f"({_MAX_VARCHAR} bytes); lower RAG_CHUNK_SIZE"
                        )
                    rows.append({
                        "id": chunk_id_for(rec.doc_id, rec.hash, i), "doc_id": rec.doc_id,
                        "start": c.start, "end": c.end, "line": line, "text": c.text,
                        "terms": _terms(c.text),
                        "vector": np.asarray(vectors[row], dtype=np.float32).tolist(),
                    })  # fmt: skip
                    texts.append(c.text)
                    row += 1
                    if len(rows) >= _INSERT_BATCH:
                        self._call(self._client.upsert, self._chunks_c, rows)
                        rows = []
            if rows:
                self._call(self._client.upsert, self._chunks_c, rows)
            docs = [
                {
                    "doc_id": d.record.doc_id,
                    "source": d.record.source,
                    "title": d.record.title,
                    "hash": d.record.hash,
                    "date": d.record.date or "",
                    "n_chunks": len(d.chunks),
                    "page_starts": json.dumps(list(d.record.page_starts)),
                    "_v": [1.0, 0.0],
                }  # fmt: skip
                for d in add
            ]
            for a in range(0, len(docs), _INSERT_BATCH):
                self._call(self._client.upsert, self._docs_c, docs[a : a + _INSERT_BATCH])
            # Scripts only grow: a removed document may leave one behind, which only means
            # a question in that script is searched instead of refused.
            self._scripts = self._scripts | script_profile(texts)
        self._save_meta(meta)
        for name in (self._chunks_c, self._docs_c, self._meta_c):
            self._call(self._client.flush, name)

    def _delete(self, doc_ids: Sequence[str]) -> None:
        gone = sorted(set(doc_ids))
        for a in range(0, len(gone), _QUERY_BATCH):
            batch = json.dumps(gone[a : a + _QUERY_BATCH])
            self._call(self._client.delete, self._chunks_c, filter=f"doc_id in {batch}")
            self._call(self._client.delete, self._docs_c, filter=f"doc_id in {batch}")

    def refresh(self) -> bool:
        before = (self._meta, self._scripts)
        self._load_meta()
        return (self._meta, self._scripts) != before

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()

    # -- internals -------------------------------------------------------------------------

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except self._exc as exc:
            raise StoreUnavailableError(f"Milvus ({self._uri}): {first_line(exc)}") from None

    def _query_all(self, collection: str, flt: str, fields: list[str]) -> list[dict[str, Any]]:
        try:
            it = self._client.query_iterator(
                collection, batch_size=_QUERY_BATCH, filter=flt, output_fields=fields
            )
            out: list[dict[str, Any]] = []
            while True:
                page = it.next()
                if not page:
                    break
                out.extend(page)
            it.close()
            return out
        except self._exc as exc:
            raise StoreUnavailableError(f"Milvus ({self._uri}): {first_line(exc)}") from None

    def _load_meta(self) -> None:
        if not self._call(self._client.has_collection, self._meta_c):
            if self._call(self._client.has_collection, self._chunks_c):
                raise IndexCorruptError(f"{self.location}: chunks without a meta collection")
            self._meta, self._scripts = None, frozenset()
            return
        if not self._loaded:  # a collection is searchable once loaded (after a restart)
            for name in (self._meta_c, self._docs_c, self._chunks_c):
                self._call(self._client.load_collection, name)
            self._loaded = True
        rows = self._call(
            self._client.query, self._meta_c, filter=f'key == "{_META_KEY}"',
            output_fields=["value"],
        )  # fmt: skip
        if not rows:
            raise IndexCorruptError(f"{self.location}: the meta collection is empty")
        try:
            m = json.loads(rows[0]["value"])
            if m.get("format") != FORMAT:
                raise IndexCorruptError(
                    f"{self.location} was written in store format {m.get('format')!r}; "
                    f"this version reads format {FORMAT}"
                )
            self._meta = IndexMeta(
                m["embedding"]["model"], int(m["embedding"]["dim"]),
                int(m["chunking"]["size"]), int(m["chunking"]["overlap"]),
            )  # fmt: skip
            self._scripts = frozenset(m.get("scripts", []))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise IndexCorruptError(f"{self.location}: unreadable meta row: {exc}") from None

    def _save_meta(self, meta: IndexMeta) -> None:
        value = {
            "format": FORMAT,
            "embedding": {"model": meta.embedding_model, "dim": meta.dim},
            "chunking": {"size": meta.chunk_size, "overlap": meta.chunk_overlap},
            "scripts": sorted(self._scripts),
        }
        row = {"key": _META_KEY, "value": json.dumps(value), "_v": [1.0, 0.0]}
        self._call(self._client.upsert, self._meta_c, [row])
        self._meta = meta

    def _create(self, meta: IndexMeta) -> None:
        from pymilvus import DataType, Function, FunctionType, MilvusClient

        c = self._client
        chunks = MilvusClient.create_schema(auto_id=False, description="rag chunks")
        chunks.add_field("id", DataType.INT64, is_primary=True)
        chunks.add_field("doc_id", DataType.VARCHAR, max_length=128)
        chunks.add_field("start", DataType.INT64)
        chunks.add_field("end", DataType.INT64)
        chunks.add_field("line", DataType.INT64)
        chunks.add_field("text", DataType.VARCHAR, max_length=_MAX_VARCHAR)
        chunks.add_field(
            "terms", DataType.VARCHAR, max_length=_MAX_VARCHAR,
            enable_analyzer=True, analyzer_params=_ANALYZER,
        )  # fmt: skip
        chunks.add_field("vector", DataType.FLOAT_VECTOR, dim=meta.dim)
        chunks.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        chunks.add_function(
            Function(
                name="text_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["terms"],
                output_field_names=["sparse"],
            )  # fmt: skip
        )
        idx = c.prepare_index_params()
        idx.add_index("vector", index_type="AUTOINDEX", metric_type="IP")
        idx.add_index(
            "sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
            params={"bm25_k1": K1, "bm25_b": B},
        )  # fmt: skip
        idx.add_index("doc_id", index_type="INVERTED")

        docs = MilvusClient.create_schema(auto_id=False, description="rag documents")
        docs.add_field("doc_id", DataType.VARCHAR, is_primary=True, max_length=128)
        docs.add_field("source", DataType.VARCHAR, max_length=4096)
        docs.add_field("title", DataType.VARCHAR, max_length=4096)
        docs.add_field("hash", DataType.VARCHAR, max_length=128)
        docs.add_field("date", DataType.VARCHAR, max_length=64)
        docs.add_field("n_chunks", DataType.INT64)
        docs.add_field("page_starts", DataType.VARCHAR, max_length=_MAX_VARCHAR)
        docs.add_field("_v", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs a vector field
        didx = c.prepare_index_params()
        didx.add_index("_v", index_type="FLAT", metric_type="IP")

        metas = MilvusClient.create_schema(auto_id=False, description="rag index meta")
        metas.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
        metas.add_field("value", DataType.VARCHAR, max_length=_MAX_VARCHAR)
        metas.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
        midx = c.prepare_index_params()
        midx.add_index("_v", index_type="FLAT", metric_type="IP")

        for name, schema, params in (
            (self._chunks_c, chunks, idx),
            (self._docs_c, docs, didx),
            (self._meta_c, metas, midx),  # last: its presence means the index exists
        ):
            self._call(
                c.create_collection, name, schema=schema, index_params=params,
                consistency_level="Strong",
            )  # fmt: skip
        self._loaded = True
        self._save_meta(meta)


def _record(r: dict[str, Any]) -> DocRecord:
    n = int(r["n_chunks"])
    return DocRecord(
        doc_id=r["doc_id"],
        source=r["source"],
        title=r["title"],
        hash=r["hash"],
        date=r["date"] or None,
        chunk_ids=tuple(chunk_id_for(r["doc_id"], r["hash"], i) for i in range(n)),
        page_starts=tuple(json.loads(r["page_starts"] or "[]")),
    )


def _chunk(cid: int, r: dict[str, Any], page: int | None = None) -> Chunk:
    return Chunk(cid, r["doc_id"], int(r["start"]), int(r["end"]), r["text"], page)


def _terms(text: str) -> str:
    terms = " ".join(analyze(text))
    while len(terms.encode("utf-8")) > _MAX_VARCHAR:  # only for pathological chunk sizes
        terms = terms[: len(terms) * 3 // 4].rsplit(" ", 1)[0]
    return terms
