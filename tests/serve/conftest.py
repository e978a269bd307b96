"""Fixtures of the serving tests: a small corpus with texts and a tiny ranker saved as ``.keras``."""

import dataclasses
import os

import numpy as np
import pytest

from p7keras.data import make_synthetic_corpus, save_corpus
from tests.helpers import D, K

NUM_ARTICLES, CHUNKS = 12, 10


def texts_of(corpus) -> np.ndarray:
    names = corpus.article_names
    return np.array([f"chunk {int(p)} of {names[int(a)]}: words about part {int(p)}"
                     for a, p in zip(corpus.article_ids, corpus.positions)])


@pytest.fixture(scope="session")
def serve_corpus():
    corpus = make_synthetic_corpus(num_articles=NUM_ARTICLES, chunks_per_article=CHUNKS, dim=D, seed=5)
    return dataclasses.replace(corpus, texts=texts_of(corpus))


@pytest.fixture(scope="session")
def serve_corpus_path(serve_corpus, tmp_path_factory):
    path = os.path.join(tmp_path_factory.mktemp("bank"), "bank.npz")
    save_corpus(serve_corpus, path)
    return path


@pytest.fixture(scope="session")
def serve_model_path(tmp_path_factory):
    """A tiny untrained ranker saved as .keras (built under the session's backend)."""
    from tests.evaluation.conftest import tiny_ranker

    path = os.path.join(tmp_path_factory.mktemp("model"), "tiny.keras")
    tiny_ranker(K, D).save(path)
    return path
