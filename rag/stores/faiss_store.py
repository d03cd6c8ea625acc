"""FAISS store: inner-product search over normalised vectors, ids mapped to chunks.

Up to ``approximate_above`` vectors the index is exact (``IndexIDMap2`` over
``IndexFlatIP``). When an ``add`` takes it past that size, the store rebuilds
itself as an inverted-file index (k-means trained on the data it holds) whose
lists keep each vector in float16 (``IndexIVFScalarQuantizer``, ``QT_fp16``), and
searches ``nprobe`` of its lists: at a million chunks a query scans 5% of the
vectors instead of all of them (bench/bench_search.py measures latency and
recall@10 against exact search; docs/benchmarks.md).

Why float16: a query's time goes into reading the vectors of the lists it probes;
half the bytes made that 1.6x faster at 1M chunks with the same recall@10 (0.948
for both at 39k vectors scanned), and halves the memory. 8-bit codes were
faster again but lost recall (0.921). More lists (4·sqrt(n) instead of 2·sqrt(n))
need a smaller share of the data scanned for the same recall (1/21 of 4,096 lists
gave 0.956 where 1/16 of 2,000 gave 0.961), at the price of a slower k-means.

IVF keeps the vectors and the chunk ids itself, so ``remove`` stays exact and
cheap. Its number of lists grows with the data: when the store has grown about
four times past the size it was trained at, the next ``add`` retrains it.
Indexes saved by earlier versions (``IndexIVFFlat`` with 2·sqrt(n) lists) open,
search with the share of lists they were tuned for, and are rebuilt as the
current type at their next ``add``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from rag.errors import IndexCorruptError, first_line

FILENAME = "vectors.faiss"

# Exact search up to this many vectors; IVF above. Exact search reads every vector for
# every query (1.5 kB each): about 0.5 ms per 1,000 vectors on 2 busy cores
# (docs/benchmarks.md), so 50k vectors already cost more than the rest of a search.
APPROXIMATE_ABOVE = 50_000
# Lists ~= NLIST_PER_SQRT * sqrt(n), within [MIN_NLIST, MAX_NLIST]: 4,000 at 1M. With
# 4,096 lists at 1M, k-means takes ~85 s and assigning the vectors ~50 s (2 busy cores).
NLIST_PER_SQRT = 4.0
MIN_NLIST = 64
MAX_NLIST = 8192
# k-means sees this many vectors per list (FAISS warns below 39).
TRAIN_PER_LIST = 40
TRAIN_ITERATIONS = 10
# Lists probed per query: NPROBE_FRACTION of the lists, and enough lists to scan MIN_SCAN
# vectors (a few ms), at least MIN_NPROBE. On the hardest synthetic data measured
# (bench/bench_search.py, "topics", 4,096 lists at 1M chunks), real questions get
# recall@10 0.945-0.948 with 1/26 of the lists, 0.956-0.957 with 1/21 and 0.962-0.968
# with 1/18 (two k-means runs; float32 and float16 lists alike); at 100k
# the MIN_SCAN rule decides (20k vectors scanned gave 0.98 with 2·sqrt(n) lists).
NPROBE_FRACTION = 1 / 20
MIN_SCAN = 20_000
MIN_NPROBE = 16
# Indexes saved before the float16 lists (IndexIVFFlat, 2·sqrt(n) lists) were tuned to
# probe 1/16 of them (recall@10 0.961 at 1M): they keep that until they are rebuilt.
LEGACY_NPROBE_FRACTION = 1 / 16
_ADD_BATCH = 65_536
# Stored vectors are unit vectors; float16 lists round a norm² by ~1e-3 at most.
_NORM_TOLERANCE = 0.02


def nlist_for(n: int) -> int:
    """How many inverted lists an IVF index over ``n`` vectors gets."""
    return int(min(MAX_NLIST, max(MIN_NLIST, round(NLIST_PER_SQRT * math.sqrt(max(n, 1))))))


def nprobe_for(nlist: int, n: int, fraction: float = NPROBE_FRACTION) -> int:
    """How many of ``nlist`` lists a query over ``n`` vectors searches."""
    wanted = max(MIN_NPROBE, nlist * fraction, nlist * MIN_SCAN / max(n, 1))
    return int(min(nlist, round(wanted)))


class FaissStore:
    def __init__(
        self,
        dim: int,
        index: faiss.Index | None = None,
        *,
        approximate_above: int | None = APPROXIMATE_ABOVE,
        nprobe: int | None = None,
    ) -> None:
        """``approximate_above=None`` keeps the index exact whatever its size;
        ``nprobe`` overrides the number of IVF lists searched per query."""
        self._dim = dim
        # Any: the faiss stubs do not know the numpy-friendly wrappers (remove_ids(array), ...).
        self._index: Any = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._approximate_above = approximate_above
        self._nprobe = nprobe
        self._configure()

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def approximate(self) -> bool:
        """True when searches are approximate (an IVF index)."""
        return _ivf(self._index) is not None

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self._dim:
            raise ValueError(f"expected vectors of shape (n, {self._dim}), got {vectors.shape}")
        if len(ids) != len(vectors):
            raise ValueError("ids and vectors differ in length")
        if not len(ids):
            return
        ids = np.asarray(ids, dtype=np.int64)
        if self._needs_rebuild(len(self) + len(ids)):
            old = self._index

            def parts() -> Iterator[tuple[np.ndarray, np.ndarray]]:
                yield from _parts(old, self._dim)
                yield ids, vectors

            self._index = self._build_ivf(parts, len(self) + len(ids))
            del old
            self._configure()
        else:
            for a in range(0, len(ids), _ADD_BATCH):
                self._index.add_with_ids(vectors[a : a + _ADD_BATCH], ids[a : a + _ADD_BATCH])
            self._configure()

    def remove(self, ids: np.ndarray) -> int:
        if len(ids) == 0:
            return 0
        return int(self._index.remove_ids(np.asarray(ids, dtype=np.int64)))

    def search(
        self, queries: np.ndarray, k: int, exclude: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` per query; ``exclude``: chunk ids never returned (tombstones)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if len(self) == 0:
            n = len(queries)
            return np.zeros((n, k), np.float32), np.full((n, k), -1, np.int64)
        if exclude is not None and len(exclude):
            batch = faiss.IDSelectorBatch(np.ascontiguousarray(exclude, dtype=np.int64))
            sel = faiss.IDSelectorNot(batch)
            ivf = _ivf(self._index)
            params: Any = faiss.SearchParameters() if ivf is None else faiss.SearchParametersIVF()
            params.sel = sel
            if ivf is not None:
                params.nprobe = ivf.nprobe
            scores, ids = self._index.search(queries, min(k, len(self)), params=params)
            del batch, sel
        else:
            scores, ids = self._index.search(queries, min(k, len(self)))
        if ids.shape[1] < k:
            pad = k - ids.shape[1]
            scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=0.0)
            ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
        return scores, ids

    def save(self, folder: Path) -> None:
        faiss.write_index(self._index, str(folder / FILENAME))

    def copy(self) -> FaissStore:
        return FaissStore(
            self._dim,
            faiss.clone_index(self._index),
            approximate_above=self._approximate_above,
            nprobe=self._nprobe,
        )

    @classmethod
    def load(
        cls,
        folder: Path,
        dim: int,
        *,
        approximate_above: int | None = APPROXIMATE_ABOVE,
        nprobe: int | None = None,
    ) -> FaissStore:
        path = folder / FILENAME
        if not path.is_file():
            problem = "not a regular file" if path.exists() else "missing"
            raise IndexCorruptError.at(path, problem)
        try:
            index = faiss.read_index(str(path))
        except (RuntimeError, MemoryError) as exc:
            problem = f"not a FAISS index ({first_line(exc)})"
            raise IndexCorruptError.at(path, problem) from None
        if index.d != dim:
            problem = f"holds {index.d}-d vectors where the manifest says {dim}"
            raise IndexCorruptError.at(path, problem)
        return cls(dim, index, approximate_above=approximate_above, nprobe=nprobe)

    def problem(self, ids: np.ndarray) -> str | None:
        """What is wrong with the index, given the sorted chunk ids it should hold: other
        ids, or vectors that are not finite unit vectors (every embedder normalises). A
        pass over the ids and the vectors, one part at a time; ``None`` when it is sound."""
        if len(self) != len(ids):
            return f"{len(self)} vectors where the manifest lists {len(ids)} chunks"
        held: list[np.ndarray] = []
        try:
            for part_ids, vectors in _parts(self._index, self._dim, view=True):
                held.append(part_ids)
                norms = np.einsum("ij,ij->i", vectors, vectors)
                if not np.all(np.abs(norms - 1.0) <= _NORM_TOLERANCE):  # NaN fails too
                    return "vectors that are not unit vectors (damaged numbers)"
        except (TypeError, RuntimeError) as exc:
            return f"unreadable vectors ({first_line(exc)})"
        found = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
        if not np.array_equal(found, ids):
            return "vector ids that are not the chunk ids"
        return None

    # -- approximate index -----------------------------------------------------------------

    def _configure(self) -> None:
        ivf = _ivf(self._index)
        if ivf is not None:
            fraction = NPROBE_FRACTION if _current(ivf) else LEGACY_NPROBE_FRACTION
            auto = nprobe_for(ivf.nlist, int(ivf.ntotal), fraction)
            ivf.nprobe = self._nprobe if self._nprobe is not None else auto

    def _needs_rebuild(self, total: int) -> bool:
        if self._approximate_above is None or total <= self._approximate_above:
            return False
        ivf = _ivf(self._index)
        if ivf is None or not _current(ivf):
            return True  # exact index crossing the threshold, or one of an earlier type
        return nlist_for(total) >= 2 * ivf.nlist  # grown about 4x since training

    def _contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Every ``(ids, vectors)`` the index holds (copies; for tests)."""
        parts = list(_parts(self._index, self._dim))
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, self._dim), np.float32)
        return np.concatenate([i for i, _ in parts]), np.concatenate([v for _, v in parts])

    def _build_ivf(
        self, parts: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]], n: int
    ) -> faiss.Index:
        """An IVF index trained on a sample of the ``n`` vectors ``parts()`` yields, holding
        all of them. ``parts`` is read twice (sample, then add), one part at a time, so a
        rebuild never holds a float32 copy of the whole index."""
        nlist = min(nlist_for(n), max(1, n // TRAIN_PER_LIST))
        quantizer: Any = faiss.IndexFlatIP(self._dim)
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer, self._dim, nlist, faiss.ScalarQuantizer.QT_fp16,
            faiss.METRIC_INNER_PRODUCT, False,  # by_residual: float16 needs no residuals
        )  # fmt: skip
        ivf.own_fields = True
        quantizer.this.disown()
        ivf.cp.niter = TRAIN_ITERATIONS
        rows = np.sort(
            np.random.default_rng(0).choice(n, size=min(n, TRAIN_PER_LIST * nlist), replace=False)
        )
        sample, offset = [], 0
        for _, vectors in parts():
            local = rows[(rows >= offset) & (rows < offset + len(vectors))] - offset
            sample.append(vectors[local])
            offset += len(vectors)
        ivf.train(np.ascontiguousarray(np.concatenate(sample)))
        del sample
        for ids, vectors in parts():
            for a in range(0, len(ids), _ADD_BATCH):
                ivf.add_with_ids(
                    np.ascontiguousarray(vectors[a : a + _ADD_BATCH]), ids[a : a + _ADD_BATCH]
                )
        return ivf


def _parts(index: Any, dim: int, *, view: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """What ``index`` holds as ``(ids, float32 vectors)`` parts of about _ADD_BATCH rows
    (copies; with ``view``, parts that may be views into the index, or one IVF list each),
    in a fixed order."""
    ivf = _ivf(index)
    if ivf is None:
        flat: Any = faiss.downcast_index(index.index)
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
        if view:
            n = int(flat.ntotal)
            if n != len(ids):
                raise RuntimeError(f"{len(ids)} ids for {n} vectors")
            codes = faiss.rev_swig_ptr(flat.get_xb(), n * dim).reshape(n, dim) if n else None
        else:
            codes = faiss.vector_to_array(flat.codes).view(np.float32).reshape(-1, dim)
        for a in range(0, len(ids), _ADD_BATCH):
            assert codes is not None
            yield ids[a : a + _ADD_BATCH], codes[a : a + _ADD_BATCH]
        return
    lists: Any = ivf.invlists
    if view and _current(ivf):  # float16 lists hold the vectors' float16 values as they are
        for li in range(ivf.nlist):
            size = lists.list_size(li)
            if size:
                codes = faiss.rev_swig_ptr(lists.get_codes(li), size * ivf.code_size)
                vectors = codes.view(np.float16).reshape(size, dim).astype(np.float32)
                yield faiss.rev_swig_ptr(lists.get_ids(li), size), vectors
        return
    id_parts: list[np.ndarray] = []
    vec_parts: list[np.ndarray] = []
    held = 0
    for li in range(ivf.nlist):
        size = lists.list_size(li)
        if not size:
            continue
        id_parts.append(faiss.rev_swig_ptr(lists.get_ids(li), size).astype(np.int64))
        codes = faiss.rev_swig_ptr(lists.get_codes(li), size * ivf.code_size).copy()
        vec_parts.append(_decode(ivf, codes.reshape(size, ivf.code_size)))
        held += size
        if held >= _ADD_BATCH:
            yield np.concatenate(id_parts), np.concatenate(vec_parts)
            id_parts, vec_parts, held = [], [], 0
    if id_parts:
        yield np.concatenate(id_parts), np.concatenate(vec_parts)


def _current(ivf: Any) -> bool:
    """True for an IVF index of the type this version builds (float16 lists)."""
    return (
        isinstance(ivf, faiss.IndexIVFScalarQuantizer)
        and ivf.sq.qtype == faiss.ScalarQuantizer.QT_fp16
        and not ivf.by_residual
    )


def _decode(ivf: Any, codes: np.ndarray) -> np.ndarray:
    """The vectors an IVF list's ``codes`` (one row each) hold."""
    if isinstance(ivf, faiss.IndexIVFFlat):
        return codes.view(np.float32).reshape(len(codes), ivf.d)
    if isinstance(ivf, faiss.IndexIVFScalarQuantizer) and not ivf.by_residual:
        return np.asarray(ivf.sq.decode(codes), dtype=np.float32)
    raise TypeError(f"cannot read the vectors of a {type(ivf).__name__}")


def _ivf(index: Any) -> Any:
    """The IVF index (downcast), or ``None`` for an exact one."""
    if isinstance(index, faiss.IndexIVF):
        return index
    down = faiss.downcast_index(index)
    return down if isinstance(down, faiss.IndexIVF) else None
