"""The compiled prediction of every backend (``p7keras.models.inference``): equal to ``model.predict``,
one compilation per bucket, the model's current weights."""

import keras
import numpy as np
import pytest

from p7keras.models.inference import CompiledPredict, bucket_size
from tests.helpers import D, rotation_batches
from tests.models.test_ranker import flat, lstm, transformer

SIZES = (1, 2, 3, 8, 13, 40)  # one sequence, buckets exactly filled, ragged sizes, several chunks
CHUNK = 8


def _built(make):
    model = make(input_dim=D)
    model.compile()
    return model


@pytest.mark.parametrize("make", [transformer, lstm, flat], ids=["transformer", "lstm", "flat"])
def test_equals_model_predict_for_every_batch_size(make):
    model = _built(make)
    predict = CompiledPredict(model, chunk_size=CHUNK)
    contexts = rotation_batches(n=max(SIZES))["context"]
    for n in SIZES:
        got = predict(contexts[:n])
        assert got.shape == (n, D) and got.dtype == np.float32
        np.testing.assert_allclose(got, model.predict(contexts[:n], verbose=0), atol=1e-6, rtol=0)
    assert predict.mode == {"tensorflow": "tf.function", "jax": "jax.jit", "torch": "torch.export"}[
        keras.backend.backend()]


def test_compiles_once_per_bucket():
    predict = CompiledPredict(_built(transformer), chunk_size=CHUNK)
    contexts = rotation_batches(n=40)["context"]
    for _ in range(2):
        for n in SIZES:
            predict(contexts[:n])
    # JAX pads every call to its bucket: 1, 2, 4 (3 rows) and 8 (8, 13 = 8 + 5, 40 = 5 x 8); the others
    # compile one graph for every batch size.
    assert predict.traces == (len({bucket_size(n, CHUNK) for n in (1, 2, 3, 8, 5)}) if predict.pads else 1)
    assert predict.pads == (keras.backend.backend() == "jax")


def test_predicts_with_the_current_weights(learnable_data):
    model = _built(transformer)
    predict = CompiledPredict(model)
    contexts = learnable_data[1]["context"][:5]
    before = predict(contexts)
    traces = predict.traces
    model.fit(learnable_data[0], batch_size=64, epochs=1, verbose=0)
    after = predict(contexts)
    assert np.abs(after - before).max() > 1e-4
    np.testing.assert_allclose(after, model.predict(contexts, verbose=0), atol=1e-6, rtol=0)
    assert predict.traces == traces  # new weights, no new compilation


def test_builds_an_unbuilt_model_and_rejects_bad_input():
    model = transformer()
    predict = CompiledPredict(model)
    contexts = rotation_batches(n=3)["context"]
    assert predict(contexts).shape == (3, D) and model.built
    assert predict(contexts[:0]).shape == (0, D)
    with pytest.raises(ValueError, match=r"\(B, K, D\); got shape \(4, 16\)"):
        predict(contexts[0])
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        CompiledPredict(model, chunk_size=0)
