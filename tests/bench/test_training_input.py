"""What the training bench feeds `fit` on each backend: the same batches, in order, and on TensorFlow without
tf.data's autotuned prefetch (its epoch-start stalls swung the bench's rounds)."""

import warnings

import keras
import numpy as np

from p7keras.bench.config import BenchConfig
from p7keras.bench.train import build_model, random_batches, training_input
from p7keras.config import CONTEXT_KEY, HARD_NEGATIVES_KEY, TARGET_KEY

CONFIG = BenchConfig(dim=8, context_length=3, d_model=8, num_layers=1, batch_size=4, train_steps=3)


def test_the_batches_are_the_arrays_in_order():
    data = random_batches(CONFIG)
    inputs, batching = training_input(data, CONFIG.batch_size)
    if keras.backend.backend() == "tensorflow":
        assert batching == {"shuffle": False}
        assert inputs.options().autotune.enabled is False
        batches = [{k: v.numpy() for k, v in batch.items()} for batch in inputs]
        assert len(batches) == CONFIG.train_steps
        for key in (CONTEXT_KEY, TARGET_KEY, HARD_NEGATIVES_KEY):
            np.testing.assert_array_equal(np.concatenate([b[key] for b in batches]), data[key])
            assert batches[0][key].shape[0] == CONFIG.batch_size
    else:
        assert inputs is data
        assert batching == {"batch_size": CONFIG.batch_size, "shuffle": False}


def test_fit_trains_on_them():
    model = build_model(CONFIG)
    before = [w.copy() for w in model.get_weights()]
    inputs, batching = training_input(random_batches(CONFIG), CONFIG.batch_size)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(inputs, epochs=2, verbose=0, **batching)
    assert not [w for w in caught if "shuffle" in str(w.message)]  # nothing passed that fit ignores
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))
