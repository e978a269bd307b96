"""The bank index (FAISS): exact search equals numpy's, HNSW finds the exact top-k, saved indexes are reused
only for the same bank and settings."""

import os

import numpy as np
import pytest

from p7keras.evaluation.bank_index import BankIndex, IndexSettings, bank_fingerprint, cached_index, index_path
from p7keras.evaluation.retrieval import top_k_rows

pytestmark = pytest.mark.one_backend


def _clustered(n=4000, d=32, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, d))
    x = centres[rng.integers(0, 40, n)] + 0.4 * rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_flat_search_is_exact():
    bank = _clustered()
    queries = bank[:50] + 0.1
    rows, scores = BankIndex.build(bank).search(queries, 10)
    expected_rows, expected_scores = top_k_rows(queries, bank, 10)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)
    assert (rows == expected_rows).mean() > 0.99  # ties may order differently
    assert rows.shape == (50, 10) and rows.dtype == np.int64
    assert BankIndex.build(bank[:3]).search(queries[:2], 10)[0].shape == (2, 3)
    with pytest.raises(ValueError, match="k >= 1"):
        BankIndex.build(bank).search(queries, 0)
    with pytest.raises(ValueError, match=r"shape \(n, 32\)"):
        BankIndex.build(bank).search(queries[:, :5], 3)


@pytest.mark.parametrize("kind", ["hnsw", "ivf"])
def test_approximate_indexes_find_most_of_the_exact_top_k(kind):
    bank = _clustered()
    index = BankIndex.build(bank, IndexSettings(kind=kind, nlist=16, nprobe=8))
    recall = index.recall(bank[:100] + 0.05, bank, 10)
    assert recall >= 0.9
    assert BankIndex.build(bank).recall(bank[:10], bank, 10) == 1.0


def test_a_saved_index_is_reused_for_the_same_bank_and_rebuilt_when_it_changes(tmp_path):
    bank = _clustered(1000)
    settings = IndexSettings(kind="hnsw", hnsw_m=8, ef_construction=40)
    first, how = cached_index(bank, settings, tmp_path, name="all-seed0")
    assert how.startswith("built and saved") and os.path.isfile(index_path(tmp_path, "all-seed0", settings))
    again, how = cached_index(bank, settings, tmp_path, name="all-seed0")
    assert how.startswith("reused")
    np.testing.assert_array_equal(again.search(bank[:5], 3)[0], first.search(bank[:5], 3)[0])
    changed = bank.copy()
    changed[7] = changed[8]
    _, how = cached_index(changed, settings, tmp_path, name="all-seed0")
    assert how.startswith("built and saved") and "the bank or the index settings changed" in how
    _, how = cached_index(changed, IndexSettings(kind="hnsw", hnsw_m=16, ef_construction=40), tmp_path,
                          name="all-seed0")
    assert how.startswith("built and saved") and "(new)" in how  # other settings: another file
    with open(index_path(tmp_path, "all-seed0", settings), "wb") as handle:
        handle.write(b"damaged")
    _, how = cached_index(changed, settings, tmp_path, name="all-seed0")
    assert "could not be read" in how
    assert bank_fingerprint(bank) != bank_fingerprint(changed)
    assert cached_index(bank, IndexSettings(), tmp_path)[1] == "built"  # flat: nothing saved
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".tmp-")]


def test_bad_settings_are_refused_in_one_line():
    with pytest.raises(ValueError, match="index kind must be one of flat, hnsw, ivf, got 'annoy'"):
        BankIndex.build(_clustered(10), IndexSettings(kind="annoy"))
    assert IndexSettings(kind="hnsw", ef_search=0).problems() == ["ef_search must be >= 1, got 0"]
