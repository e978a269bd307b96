"""The compiled prediction of every backend (``p7keras.models.inference``): equal to ``model.predict``,
one compilation per bucket, the model's current weights."""

import keras
import numpy as np
import pytest

from p7keras.models.inference import CompiledPredict, bucket_size, has_int8_layers
from p7keras.models.precision import reduced_precision
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


def test_compile_single_compiles_the_one_sequence_call(learnable_data):
    """``compile_single``: one sequence runs through ``torch.compile`` of the exported graph on PyTorch and through
    XLA on TensorFlow (compiled once, on the first such call; it follows the model's weights), batches run as
    before; JAX compiles every call already."""
    model = _built(transformer)
    predict = CompiledPredict(model, chunk_size=CHUNK, compile_single=True)
    contexts = learnable_data[1]["context"][:5]
    batch = predict(contexts)
    backend = keras.backend.backend()
    assert predict.mode == {"tensorflow": "tf.function+compile_single", "jax": "jax.jit",
                            "torch": "torch.export+compile_single"}[backend]
    traces = predict.traces
    one = predict(contexts[:1])
    np.testing.assert_allclose(one, model.predict(contexts[:1], verbose=0), atol=1e-5, rtol=0)
    np.testing.assert_allclose(one, batch[:1], atol=1e-5, rtol=0)
    predict(contexts[1:2])
    predict(contexts[:3])
    if backend != "jax":  # the one compilation, on the first one-sequence call
        assert predict.traces == traces + 1
    model.fit(learnable_data[0], batch_size=64, epochs=1, verbose=0)
    after = predict(contexts[:1])
    assert np.abs(after - one).max() > 1e-4
    np.testing.assert_allclose(after, model.predict(contexts[:1], verbose=0), atol=1e-5, rtol=0)
    if backend != "jax":
        assert predict.traces == traces + 1


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's one-sequence XLA call")
def test_compile_single_keeps_the_graph_for_a_mixed_precision_model_on_tensorflow():
    """XLA was slower than the graph for a ``mixed_bfloat16`` model's one sequence (README): it keeps the graph."""
    model = _built(lambda **kw: transformer(dtype="mixed_bfloat16", **kw))
    predict = CompiledPredict(model, chunk_size=CHUNK, compile_single=True)
    contexts = rotation_batches(n=2)["context"]
    np.testing.assert_allclose(predict(contexts[:1]), model.predict(contexts[:1], verbose=0), atol=1e-2, rtol=0)
    assert (predict.mode, predict.traces) == ("tf.function", 1)


def test_int8_layers_are_found_in_an_int8_copy_only():
    model = _built(transformer)
    model(rotation_batches(n=1)["context"])
    assert not has_int8_layers(model)
    assert has_int8_layers(reduced_precision(model, "int8"))
    assert not has_int8_layers(reduced_precision(model, "bfloat16"))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's int8 path")
@pytest.mark.parametrize("make", [transformer, lstm], ids=["transformer", "lstm"])
def test_an_int8_model_predicts_under_xla_in_buckets_on_tensorflow(make):
    """Keras' int8 products ran about 25x faster in batch under XLA than in TensorFlow's graph (README): an int8
    model runs every call under XLA, padded to buckets, one compilation per bucket, equal to ``model.predict``."""
    model = _built(make)
    model(rotation_batches(n=1)["context"])
    small = reduced_precision(model, "int8")
    predict = CompiledPredict(small, chunk_size=CHUNK)
    contexts = rotation_batches(n=13)["context"]
    for rows in (1, 3, 13):  # buckets 1, 4, 8 and 8 (13 = 8 + 5)
        np.testing.assert_allclose(predict(contexts[:rows]), small.predict(contexts[:rows], verbose=0), atol=1e-5,
                                   rtol=0)
    assert (predict.mode, predict.pads, predict.traces) == ("tf.function+xla", True, 3)
    predict(contexts[:2])
    assert predict.traces == 4


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


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the exported graph is PyTorch's")
def test_torch_graph_loses_only_nodes_that_do_nothing():
    import torch

    from p7keras.models.inference import exported_torch_graph, without_noop_nodes

    model = _built(transformer)
    contexts = rotation_batches(n=5)["context"]
    untouched = exported_torch_graph(model, torch.from_numpy(contexts[:2]))
    stripped = exported_torch_graph(model, torch.from_numpy(contexts[:2]))
    before = [node.target for node in stripped.graph.nodes if node.op == "call_function"]
    removed = without_noop_nodes(stripped)
    after = [node.target for node in stripped.graph.nodes if node.op == "call_function"]
    assert removed == len(before) - len(after) and removed > len(after) // 2  # most of Keras' graph
    assert torch.ops.aten._assert_tensor_metadata.default in before
    assert torch.ops.aten._assert_tensor_metadata.default not in after
    assert not [t for t in after if t.overloadpacket is torch.ops.aten.to]  # float32 throughout: every .to
    removable = (torch.ops.aten.to, torch.ops.aten._assert_tensor_metadata)
    assert sorted(map(str, set(after))) == sorted(str(t) for t in set(before) if t.overloadpacket not in removable)
    with torch.inference_mode():
        for n in (1, 3, 5):
            x = torch.from_numpy(contexts[:n])
            assert torch.equal(stripped(x), untouched(x))
    assert without_noop_nodes(stripped) == 0


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the exported graph is PyTorch's")
def test_torch_graph_keeps_casts_that_change_the_dtype():
    import torch

    from p7keras.models.inference import without_noop_nodes

    class Casts(torch.nn.Module):
        def forward(self, x):
            kept = x.to(torch.float32)  # already float32: removed
            rounded = kept.to(torch.bfloat16).to(dtype=torch.float32)  # two real casts: kept
            return rounded * 3.0, x.to(torch.float32, copy=True)  # a requested copy: kept

    x = torch.linspace(0.0, 1.0, 24, dtype=torch.float32).reshape(2, 12) + 1e-3
    module = torch.export.export(Casts(), (x,), strict=False).module()
    casts = [n for n in module.graph.nodes if n.op == "call_function" and n.target.overloadpacket is torch.ops.aten.to]
    removed = without_noop_nodes(module)
    left = [n for n in module.graph.nodes if n.op == "call_function" and n.target.overloadpacket is torch.ops.aten.to]
    assert len(casts) - len(left) == 1 and len(left) == 3
    asserts = [n for n in module.graph.nodes if n.target is torch.ops.aten._assert_tensor_metadata.default]
    assert not asserts and removed >= 1
    rounded, copied = module(x)
    assert rounded.dtype == torch.float32
    assert torch.equal(rounded, x.to(torch.bfloat16).to(torch.float32) * 3.0)
    assert not torch.equal(rounded, x * 3.0)  # the bfloat16 rounding happened
    assert torch.equal(copied, x) and copied.data_ptr() != x.data_ptr()
