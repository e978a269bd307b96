"""``Predictor``: the compiled path of Keras models (``Predictor.from_model``) and SavedModels called through
their named serving signature with TensorFlow alone."""

import keras
import numpy as np
import pytest

import p7keras
from p7keras.evaluation.predictors import load_predictor
from p7keras.models.inference import CompiledPredict
from tests.evaluation.conftest import tiny_ranker
from tests.helpers import D, K, rotation_batches


def test_from_model_is_public_and_equals_model_predict():
    model = tiny_ranker()
    predictor = p7keras.Predictor.from_model(model, batch_size=4)
    assert predictor.kind == "keras" and (predictor.context_length, predictor.input_dim) == (K, D)
    contexts = rotation_batches(n=11)["context"]
    for n in (1, 4, 11):
        np.testing.assert_allclose(predictor.predict(contexts[:n]), model.predict(contexts[:n], verbose=0),
                                   atol=1e-6, rtol=0)
    np.testing.assert_allclose(predictor.single_fn(contexts[:1]), model.predict_on_batch(contexts[:1]),
                               atol=1e-6, rtol=0)
    assert isinstance(load_predictor(model).batch_fn, CompiledPredict)  # evaluate's path is the same


def test_exported_saved_model_has_named_signature_and_is_served_by_it(tmp_path):
    tf = pytest.importorskip("tensorflow")
    model = tiny_ranker()
    contexts = rotation_batches(n=5)["context"]
    expected = model.predict(contexts, verbose=0)
    model.export(tmp_path / "export")  # on PyTorch: through a TensorFlow child process
    signature = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    (name, spec), = signature.structured_input_signature[1].items()
    assert name == "context" and tuple(spec.shape) == (None, K, D) and spec.dtype == tf.float32
    assert list(signature.structured_outputs) == ["prediction"]
    np.testing.assert_allclose(signature(context=tf.constant(contexts))["prediction"].numpy(), expected,
                               atol=1e-5, rtol=0)
    saved = load_predictor(tmp_path / "export", batch_size=2)
    assert saved.kind == "saved_model" and (saved.context_length, saved.input_dim) == (K, D)
    np.testing.assert_allclose(saved.predict(contexts), expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(saved.single_fn(contexts[:1]), expected[:1], atol=1e-5, rtol=0)
    one = tf.saved_model.load(str(tmp_path / "export")).signatures["serve_one"]  # one sequence, XLA in float32
    (name, spec), = one.structured_input_signature[1].items()
    assert name == "context" and tuple(spec.shape) == (1, K, D) and list(one.structured_outputs) == ["prediction"]
    np.testing.assert_allclose(one(context=tf.constant(contexts[:1]))["prediction"].numpy(), expected[:1],
                               atol=1e-5, rtol=0)


def test_an_int8_saved_model_runs_its_batches_under_xla(tmp_path):
    """TensorFlow's graph multiplies int8 matrices ~25x slower than XLA (README): a SavedModel with int8 variables
    runs its batches under XLA, padded to buckets; the predictions are the signature's."""
    tf = pytest.importorskip("tensorflow")
    from p7keras.models.precision import reduced_precision

    model = tiny_ranker()
    contexts = rotation_batches(n=11)["context"]
    model.export(tmp_path / "plain")
    reduced_precision(model, "int8").export(tmp_path / "int8")
    for folder, mode in (("plain", "serving_default"), ("int8", "serving_default+xla")):
        saved = load_predictor(tmp_path / folder, batch_size=4)  # chunks of 4, 4 and 3 (padded to 4)
        assert saved.batch_fn.mode == mode
        signature = tf.saved_model.load(str(tmp_path / folder)).signatures["serving_default"]
        np.testing.assert_allclose(saved.predict(contexts), signature(context=tf.constant(contexts))["prediction"],
                                   atol=1e-5, rtol=0)


def test_a_saved_model_predicts_one_sequence_through_serve_one_when_it_takes_the_shape(tmp_path):
    """One sequence goes to ``serve_one`` (``predict`` and ``single_fn``), more to ``serving_default``; a
    ``serve_one`` of another shape is not used."""
    tf = pytest.importorskip("tensorflow")

    def module(one_shape):
        module = tf.Module()
        module.serve = tf.function(lambda context: {"prediction": context[:, -1]},
                                   input_signature=[tf.TensorSpec((None, K, D), tf.float32, name="context")])
        module.serve_one = tf.function(lambda context: {"prediction": 2.0 * context[:, -1]},
                                       input_signature=[tf.TensorSpec(one_shape, tf.float32, name="context")])
        return module, {"serving_default": module.serve, "serve_one": module.serve_one}

    contexts = rotation_batches(n=3)["context"]
    for folder, one_shape, factor in (("fits", (1, K, D), 2.0), ("other", (1, K + 1, D), 1.0)):
        served, signatures = module(one_shape)
        tf.saved_model.save(served, str(tmp_path / folder), signatures=signatures)
        saved = load_predictor(tmp_path / folder)
        np.testing.assert_allclose(saved.predict(contexts[:1]), factor * contexts[:1, -1], rtol=1e-6)
        np.testing.assert_allclose(saved.single_fn(contexts[:1]), factor * contexts[:1, -1], rtol=1e-6)
        np.testing.assert_allclose(saved.predict(contexts), contexts[:, -1], rtol=1e-6)


def test_keras_default_export_still_loads(tmp_path):
    """SavedModels written by ``keras.Model.export`` (``inputs`` -> ``output_0``) keep working."""
    pytest.importorskip("tensorflow")
    if keras.backend.backend() == "torch":
        pytest.skip("keras.Model.export cannot write a dynamic-batch SavedModel on PyTorch")
    model = tiny_ranker()
    keras.Model.export(model, str(tmp_path / "plain"), verbose=False,
                       input_signature=[keras.InputSpec(shape=(None, K, D), dtype="float32")])
    contexts = rotation_batches(n=3)["context"]
    np.testing.assert_allclose(load_predictor(tmp_path / "plain").predict(contexts),
                               model.predict(contexts, verbose=0), atol=1e-5, rtol=0)
