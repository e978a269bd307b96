"""Shared fixtures of the data-layer tests: small corpora and an ``.npz`` writer."""

import os

import numpy as np
import pytest

from p7keras.data import ChunkCorpus, make_synthetic_corpus

TOY_ENCODER = os.path.join(os.path.dirname(__file__), "toy_encoder.py")


@pytest.fixture
def write_npz(tmp_path):
    """``write_npz(name, **arrays) -> path`` of a new ``.npz`` in ``tmp_path``."""

    def write(name: str, **arrays) -> str:
        path = os.path.join(tmp_path, name)
        np.savez(path, **arrays)
        return path

    return write


@pytest.fixture
def corpus_arrays():
    """Arrays of a valid chunk corpus: 4 articles of 4, 6, 3 and 8 chunks, D = 8, unit rows."""
    rng = np.random.default_rng(0)
    lengths = [4, 6, 3, 8]
    vectors = rng.standard_normal((sum(lengths), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {
        "vectors": vectors,
        "article_ids": np.repeat(np.array([10, 11, 12, 13], dtype=np.int32), lengths),
        "positions": np.concatenate([np.arange(n) for n in lengths]).astype(np.int32),
        "article_names": np.array(["a.md", "b.md", "c.md", "d.md"]),
    }


@pytest.fixture
def small_corpus() -> ChunkCorpus:
    """A synthetic corpus of 20 articles x 12 chunks, D = 16."""
    return make_synthetic_corpus(num_articles=20, chunks_per_article=12, dim=16, seed=0)


@pytest.fixture
def small_corpus_path(small_corpus, tmp_path) -> str:
    """``small_corpus`` saved as an ``.npz``."""
    from p7keras.data import save_corpus

    path = os.path.join(tmp_path, "small.npz")
    save_corpus(small_corpus, path)
    return path


@pytest.fixture(autouse=True)
def _seeded():
    """Overrides the package-wide Keras seeding/clearing fixture: data-layer code seeds numpy explicitly,
    and clearing the Keras session after each of these tests only costs time (the fit tests seed Keras
    themselves)."""
    yield
