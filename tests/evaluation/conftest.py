"""Fixtures of the evaluation tests: a small synthetic corpus (240 sequences of K = 4, D = 16) and tiny models."""

import os

import keras
import numpy as np
import pytest

from p7keras.data import SequenceFile, load_sequences, make_synthetic_corpus, save_corpus
from tests.helpers import D, K

NUM_ARTICLES, CHUNKS = 30, 12  # 30 * (12 - K) = 240 sequences: enough for the ship gate (200)


@pytest.fixture(scope="session")
def corpus():
    return make_synthetic_corpus(num_articles=NUM_ARTICLES, chunks_per_article=CHUNKS, dim=D, seed=3)


@pytest.fixture(scope="session")
def corpus_path(corpus, tmp_path_factory):
    path = os.path.join(tmp_path_factory.mktemp("data"), "corpus.npz")
    save_corpus(corpus, path)
    return path


@pytest.fixture(scope="session")
def sequence_file(corpus):
    """The corpus's windows as an upstream sequence file without article ids."""
    seqs = load_sequences(corpus, K)
    return SequenceFile(contexts=seqs.contexts, targets=seqs.targets, source="upstream.npz")


def last_context(contexts):
    """A "model" that returns c_K: it must score exactly as DIRECT."""
    return np.asarray(contexts)[:, -1]


def last_context_keras(k: int = K, d: int = D) -> keras.Model:
    """A serialisable keras model returning c_K (crop the K - 1 oldest positions, flatten)."""
    inputs = keras.Input((k, d))
    last = keras.layers.Flatten()(keras.layers.Cropping1D((k - 1, 0))(inputs))
    return keras.Model(inputs, last, name="last_keras")


def tiny_ranker(k: int = K, d: int = D, **kwargs):
    """An untrained, built TransformerP7Ranker (d_model 16, 1 layer)."""
    import p7keras

    model = p7keras.TransformerP7Ranker(
        context_length=k, input_dim=d, d_model=16, num_heads=2, num_layers=1, ff_dim=32, dropout=0.0, **kwargs
    )
    model(np.ones((1, k, d), dtype="float32") / np.sqrt(d))  # an eager call builds it (no compilation)
    return model
