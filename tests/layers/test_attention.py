"""FlatMultiHeadAttention: Keras' attention and weights, projections as 2-D products (every backend)."""

import numpy as np
import pytest
import keras
from keras import ops

from p7keras.layers import EncoderBlock, FlatMultiHeadAttention
from p7keras.layers.attention import flat_projection


def _pair(num_heads=4, key_dim=8, width=32, dtype=None):
    keras.utils.set_random_seed(3)
    ref = keras.layers.MultiHeadAttention(num_heads=num_heads, key_dim=key_dim, dtype=dtype)
    flat = FlatMultiHeadAttention(num_heads=num_heads, key_dim=key_dim, dtype=dtype)
    for layer in (ref, flat):
        layer.build((None, 1, width), (None, 5, width))
    flat.set_weights(ref.get_weights())
    return ref, flat


@pytest.mark.parametrize("last_only", [False, True])
def test_same_output_and_gradients_as_keras_attention(last_only):
    ref, flat = _pair()
    x = np.random.default_rng(0).normal(size=(3, 5, 32)).astype("float32")
    query = x[:, -1:] if last_only else x
    want, got = ops.convert_to_numpy(ref(query, x)), ops.convert_to_numpy(flat(query, x))
    assert got.shape == want.shape == (3, query.shape[1], 32)
    np.testing.assert_allclose(got, want, atol=2e-6)
    assert [w.path.split("/")[-2:] for w in flat.weights] == [w.path.split("/")[-2:] for w in ref.weights]
    weights = np.random.default_rng(1).normal(size=want.shape).astype("float32")
    np.testing.assert_allclose(_kernel_gradients(flat, query, x, weights), _kernel_gradients(ref, query, x, weights),
                               rtol=1e-4, atol=1e-5)


def _kernel_gradients(layer, query, x, weights):
    """d sum(w * layer(query, x)) / d (query kernel), on the active backend."""
    import importlib

    backend = keras.backend.backend()
    kernel = layer._query_dense.kernel
    if backend == "tensorflow":
        tf = importlib.import_module("tensorflow")
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(query, x) * weights)
        return tape.gradient(loss, kernel.value).numpy()
    if backend == "jax":
        jax = importlib.import_module("jax")
        variables = [v.value for v in layer.trainable_variables]
        index = [v is kernel for v in layer.trainable_variables].index(True)

        def loss(values):
            out, _ = layer.stateless_call(values, [v.value for v in layer.non_trainable_variables], query, x)
            return (out * weights).sum()
        return np.asarray(jax.grad(loss)(variables)[index])
    torch = importlib.import_module("torch")
    layer.zero_grad()
    loss = (layer(query, x) * torch.as_tensor(weights)).sum()
    loss.backward()
    return kernel.value.grad.detach().cpu().numpy()


def test_mixed_bfloat16_computes_in_bfloat16_like_keras_attention():
    ref, flat = _pair(dtype="mixed_bfloat16")
    x = np.random.default_rng(2).normal(size=(2, 5, 32)).astype("float32")
    want, got = ref(x, x), flat(x, x)
    assert keras.backend.standardize_dtype(got.dtype) == "bfloat16"
    np.testing.assert_allclose(ops.convert_to_numpy(ops.cast(got, "float32")),
                               ops.convert_to_numpy(ops.cast(want, "float32")), atol=0.05)


def test_a_quantized_projection_is_keras_own():
    """An int8 projection is called as it is (its quantized path), not flattened from its float kernel."""
    dense = keras.layers.EinsumDense("abc,cde->abde", output_shape=(None, 4, 8), bias_axes="de")
    dense.build((None, 5, 16))
    x = np.random.default_rng(4).normal(size=(2, 5, 16)).astype("float32")
    np.testing.assert_allclose(ops.convert_to_numpy(flat_projection(dense, x, in_axes=1)),
                               ops.convert_to_numpy(dense(x)), atol=2e-6)
    dense.quantize("int8")
    np.testing.assert_array_equal(ops.convert_to_numpy(flat_projection(dense, x, in_axes=1)),
                                  ops.convert_to_numpy(dense(x)))


def test_a_block_saved_with_keras_attention_loads_into_the_flat_one(tmp_path):
    """Models saved before this layer (EncoderBlock held keras.layers.MultiHeadAttention) load unchanged."""
    keras.utils.set_random_seed(5)
    inputs = keras.Input((5, 32))
    old = EncoderBlock(d_model=32, num_heads=4, ff_dim=64, name="block")
    old.attention = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8, name="attention")
    model = keras.Model(inputs, old(inputs))
    x = np.random.default_rng(6).normal(size=(3, 5, 32)).astype("float32")
    want = ops.convert_to_numpy(model(x))
    model.save(tmp_path / "old.keras")
    loaded = keras.saving.load_model(tmp_path / "old.keras")
    assert isinstance(loaded.get_layer("block").attention, FlatMultiHeadAttention)
    np.testing.assert_allclose(ops.convert_to_numpy(loaded(x)), want, atol=2e-6)


def test_tensorflow_gradient_has_no_broadcast_batch_matmul():
    """The reason for the layer: Keras' TF einsum projects with a 3-D x 2-D BatchMatMulV2, whose kernel
    gradient is one product per batch row; the flat layer's traced step has only 2-D MatMuls for them."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("a TensorFlow graph property")
    import tensorflow as tf

    ref, flat = _pair()
    x = tf.constant(np.ones((2, 5, 32), "float32"))

    def broadcast_products(layer):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(layer(x, x))
            return tape.gradient(loss, [v.value for v in layer.trainable_variables])
        graph = step.get_concrete_function().graph
        ops_ = [op for op in graph.get_operations() if op.type in ("BatchMatMulV2", "BatchMatMulV3")]
        return [op for op in ops_ if len({i.shape.rank for i in op.inputs}) > 1]

    assert broadcast_products(ref), "Keras' attention no longer broadcasts: this layer may be unnecessary"
    assert broadcast_products(flat) == []


def test_gated_attention_is_refused():
    try:
        keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, use_gate=True)
    except TypeError:
        pytest.skip("this Keras has no gated attention")
    with pytest.raises(ValueError, match="use_gate must be False"):
        FlatMultiHeadAttention(num_heads=2, key_dim=4, use_gate=True)
