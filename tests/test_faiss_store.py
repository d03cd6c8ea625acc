from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from rag.stores.faiss_store import LEGACY_NPROBE_FRACTION, FaissStore, _current, _ivf, nprobe_for

DIM = 16


def _unit(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _exact(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return ids[np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]]


@pytest.fixture
def store() -> FaissStore:
    """An approximate store: 1,200 vectors, above its 500-vector threshold."""
    s = FaissStore(DIM, approximate_above=500)
    s.add(np.arange(1000, 2200), _unit(1200, 0))
    return s


def test_small_store_stays_exact() -> None:
    s = FaissStore(DIM, approximate_above=500)
    s.add(np.arange(400), _unit(400, 0))
    assert not s.approximate


def test_approximate_above_the_threshold_and_exhaustive_probe_is_exact(
    store: FaissStore,
) -> None:
    assert store.approximate and len(store) == 1200
    ivf = _ivf(store._index)
    assert _current(ivf) and ivf.code_size == 2 * DIM  # float16 lists
    q = _unit(20, 1)
    ivf.nprobe = ivf.nlist  # every list: the same top 10 as exact search
    _, ids = store.search(q, 10)
    np.testing.assert_array_equal(ids, _exact(_unit(1200, 0), np.arange(1000, 2200), q, 10))
    store._configure()
    assert 1 <= ivf.nprobe <= ivf.nlist


def test_remove_by_id(store: FaissStore) -> None:
    gone = np.arange(1000, 1600)
    assert store.remove(gone) == 600 and len(store) == 600
    _, ids = store.search(_unit(30, 2), 20)
    assert not set(ids.ravel().tolist()) & set(gone.tolist())
    assert store.remove(gone) == 0


def test_save_and_load_search_the_same(store: FaissStore, tmp_path: Path) -> None:
    q = _unit(10, 3)
    store.save(tmp_path)
    loaded = FaissStore.load(tmp_path, DIM, approximate_above=500)
    assert loaded.approximate and len(loaded) == len(store) and _current(_ivf(loaded._index))
    for (s1, i1), (s2, i2) in [(store.search(q, 10), loaded.search(q, 10))]:
        np.testing.assert_array_equal(i1, i2)
        np.testing.assert_allclose(s1, s2)


def test_growth_retrains_and_keeps_every_vector(store: FaissStore) -> None:
    nlist = _ivf(store._index).nlist
    store.add(np.arange(5000, 9000), _unit(4000, 4))
    assert _ivf(store._index).nlist > nlist and len(store) == 5200
    ids, vectors = store._contents()
    order = np.argsort(ids)
    expected_ids = np.concatenate([np.arange(1000, 2200), np.arange(5000, 9000)])
    np.testing.assert_array_equal(ids[order], expected_ids)
    expected = np.concatenate([_unit(1200, 0), _unit(4000, 4)])
    np.testing.assert_allclose(vectors[order], expected, atol=0.02)


def test_index_saved_by_the_first_ivf_version_opens(tmp_path: Path) -> None:
    # IndexIVFFlat over a flat quantiser, as stores wrote before the index type changed.
    x = _unit(1200, 0)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 30, faiss.METRIC_INNER_PRODUCT)
    ivf.train(x)
    ivf.add_with_ids(x, np.arange(1000, 2200, dtype=np.int64))
    faiss.write_index(ivf, str(tmp_path / "vectors.faiss"))
    s = FaissStore.load(tmp_path, DIM, approximate_above=500)
    assert s.approximate and not _current(_ivf(s._index))
    assert _ivf(s._index).nprobe == nprobe_for(30, 1200, LEGACY_NPROBE_FRACTION)
    scores, ids = s.search(x[:5], 1)
    np.testing.assert_array_equal(ids[:, 0], np.arange(1000, 1005))
    assert s.remove(np.arange(1000, 1100)) == 100
    s.add(np.arange(5000, 9000), _unit(4000, 4))  # grows 4x: retrained as the current type
    assert len(s) == 5100 and _current(_ivf(s._index))
    ids, _ = s._contents()
    assert sorted(ids.tolist()) == [*range(1100, 2200), *range(5000, 9000)]
