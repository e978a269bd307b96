"""p7keras.layers.dropout: Keras' dropout everywhere but inside XLA on TensorFlow's CPU, where Threefry draws the
mask (issue 23)."""

import numpy as np
import pytest
import keras
from keras import ops

from p7keras import TransformerP7Ranker
from p7keras.jit_compile import tensorflow_sees_gpu
from p7keras.layers import FlatMultiHeadAttention
from p7keras.layers.dropout import dropout, in_xla_on_cpu

BACKEND = keras.backend.backend()
X = np.random.default_rng(0).uniform(1.0, 2.0, size=(64, 256)).astype("float32")  # no zeros: a zero is a drop


def _twins(rate=0.25, seed=3):
    return keras.layers.Dropout(rate, seed=seed), keras.layers.Dropout(rate, seed=seed)


def test_outside_xla_it_is_the_layer_itself():
    ours, keras_own = _twins()
    for _ in range(2):  # the same masks draw after draw: the seed generators advance alike
        np.testing.assert_array_equal(ops.convert_to_numpy(dropout(ours, X, training=True)),
                                      ops.convert_to_numpy(keras_own(X, training=True)))
    np.testing.assert_array_equal(ops.convert_to_numpy(dropout(ours, X, training=False)), X)
    assert not in_xla_on_cpu()


@pytest.mark.skipif(BACKEND != "tensorflow", reason="XLA's Philox on TensorFlow's CPU")
def test_inside_xla_on_a_cpu_threefry_draws_a_proper_mask():
    import tensorflow as tf  # noqa: PLC0415

    if tensorflow_sees_gpu():
        pytest.skip("a GPU in sight: the layer's own masks")
    ours, twin = _twins()
    philox = keras.layers.Dropout(0.25, seed=3)

    @tf.function(jit_compile=True)
    def draw(x):
        return (in_xla_on_cpu(), dropout(ours, x, training=True), dropout(twin, x, training=True),
                philox(x, training=True))

    @tf.function
    def graph():
        return in_xla_on_cpu()

    assert not graph().numpy()
    inside, first, same_seed, keras_mask = (np.asarray(t) for t in draw(tf.constant(X)))
    assert inside
    kept = first != 0
    assert 0.70 < kept.mean() < 0.80  # rate 0.25 of 16,384 entries
    np.testing.assert_allclose(first[kept], X[kept] / 0.75, rtol=1e-6)  # the kept entries scaled by 1 / (1 - rate)
    np.testing.assert_array_equal(first, same_seed)  # the same seed, the same mask
    assert (kept != (keras_mask != 0)).mean() > 0.2  # not Philox's mask: Threefry drew it
    second = np.asarray(draw(tf.constant(X))[1])
    assert ((second != 0) != kept).mean() > 0.2  # the seed generator advanced: a new mask each step


@pytest.mark.skipif(BACKEND != "tensorflow", reason="XLA's Philox on TensorFlow's CPU")
def test_a_transformer_trains_under_xla_with_threefry_masks(monkeypatch):
    import p7keras.layers.dropout as module  # noqa: PLC0415

    drawn = []  # one entry per mask the traced step draws with Threefry
    threefry = module._threefry_dropout
    monkeypatch.setattr(module, "_threefry_dropout", lambda *args: drawn.append(1) or threefry(*args))
    keras.utils.set_random_seed(0)
    model = TransformerP7Ranker(context_length=3, d_model=16, num_heads=2, num_layers=2, ff_dim=32, dropout=0.1,
                                input_dim=16)
    model.compile(jit_compile=True)
    rng = np.random.default_rng(0)
    data = {name: rng.normal(size=shape).astype("float32") for name, shape in (("context", (256, 3, 16)),
                                                                                ("target", (256, 16)))}
    data = {name: a / np.linalg.norm(a, axis=-1, keepdims=True) for name, a in data.items()}
    seeds = [layer.seed_generator.state.numpy().copy() for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.Dropout)]
    history = model.fit(data, batch_size=32, epochs=3, verbose=0).history["loss"]
    after = [layer.seed_generator.state.numpy() for layer in model._flatten_layers()
             if isinstance(layer, keras.layers.Dropout)]
    assert len(seeds) == 6 and all((a != s).any() for a, s in zip(after, seeds))  # every mask drawn and advanced
    if not tensorflow_sees_gpu():  # a GPU in sight: the layers' own masks
        assert len(drawn) >= 6  # two blocks, three masks each, every one Threefry's (once per trace of the step)
    assert np.isfinite(history).all() and history[-1] < history[0]


def test_attention_with_dropout_is_keras_attention_outside_training():
    keras.utils.set_random_seed(3)
    ref = keras.layers.MultiHeadAttention(num_heads=2, key_dim=8, dropout=0.3, seed=5)
    flat = FlatMultiHeadAttention(num_heads=2, key_dim=8, dropout=0.3, seed=5)
    for layer in (ref, flat):
        layer.build((None, 5, 16), (None, 5, 16))
    flat.set_weights(ref.get_weights())
    x = np.random.default_rng(0).normal(size=(3, 5, 16)).astype("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(flat(x, x)), ops.convert_to_numpy(ref(x, x)), atol=2e-6)
    # in training (eager, so the layer's own dropout): the same seed drops the same attention weights
    np.testing.assert_allclose(ops.convert_to_numpy(flat(x, x, training=True)),
                               ops.convert_to_numpy(ref(x, x, training=True)), atol=2e-6)
