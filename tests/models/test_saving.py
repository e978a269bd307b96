"""``p7keras.models.saving``: the ``.keras`` round trip and the SavedModel export that TensorFlow alone serves,
from any backend (PyTorch through a ``KERAS_BACKEND=tensorflow`` child process)."""

import numpy as np
import pytest
import keras

import p7keras
from p7keras.evaluation.predictors import load_predictor
from p7keras.models.saving import export_saved_model
from tests.evaluation.conftest import tiny_ranker
from tests.helpers import D, K, rotation_batches
from tests.models.test_ranker import SMALL, flat, lstm, transformer


@pytest.mark.parametrize(
    "make",
    [transformer, lstm, flat, lambda: transformer(anchor_mode="attention", anchor_learnable=False, anchor_lambda=0.65),
     lambda: lstm(head="residual", context_negatives="none", negative_queue=8)],
    ids=["transformer", "lstm", "flat", "attention-fixed", "residual"],
)
def test_keras_round_trip_gives_identical_predictions(make, tmp_path, learnable_data):
    model = make()
    model.compile()
    model.fit(learnable_data[0], batch_size=64, epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    contexts = learnable_data[1]["context"]
    np.testing.assert_array_equal(loaded.predict(contexts, verbose=0), model.predict(contexts, verbose=0))
    assert loaded.anchor_lambda == pytest.approx(model.anchor_lambda, abs=0)
    # The loaded model keeps training (optimizer state and the custom step come back).
    history = loaded.fit(learnable_data[0], batch_size=64, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])


def test_unbuilt_model_config_round_trip():
    model = p7keras.TransformerP7Ranker(**SMALL, margin=0.1, gate_mode="next-vs-prev", w_teacher=0.3)
    clone = p7keras.TransformerP7Ranker.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    assert clone.loss_params["gate_mode"] == "next-vs-prev" and clone.loss_params["margin"] == 0.1


def test_configs_written_before_issue_11_load_with_the_spec_defaults():
    old = p7keras.TransformerP7Ranker(**SMALL).get_config()
    for name in ("head", "context_negatives", "negative_queue", "negatives"):
        old.pop(name)
    clone = p7keras.TransformerP7Ranker.from_config(old)
    assert clone.head == "mlp" and clone.loss_params["context_negatives"] == "prev" and clone.negative_queue == 0
    assert clone.negatives == "batch"


def test_corpus_negatives_model_is_saved_without_its_bank_and_loads(tmp_path, learnable_data):
    train = learnable_data[0]
    bank = np.random.default_rng(0).standard_normal((20_000, D)).astype("float32")  # 1.28 MB
    model = transformer(negatives="corpus")
    model.set_negative_bank(bank / np.linalg.norm(bank, axis=1, keepdims=True))
    model.compile()
    model.fit(train, batch_size=64, epochs=1, verbose=0)
    plain = transformer()
    plain.compile()
    plain.fit(train, batch_size=64, epochs=1, verbose=0)
    def paths(m):
        return [v.path.split("/", 1)[1] for v in m.weights]

    assert paths(model) == paths(plain)  # the bank is no weight
    path, plain_path = tmp_path / "corpus.keras", tmp_path / "batch.keras"
    model.save(path)
    plain.save(plain_path)
    assert path.stat().st_size < plain_path.stat().st_size + 10_000 < bank.nbytes
    loaded = keras.saving.load_model(path)
    assert loaded.negatives == "corpus" and loaded.negative_bank is None
    contexts = learnable_data[1]["context"]
    np.testing.assert_array_equal(loaded.predict(contexts, verbose=0), model.predict(contexts, verbose=0))
    with pytest.raises(ValueError, match="set_negative_bank"):
        loaded.fit(train, batch_size=64, epochs=1, verbose=0)
    loaded.set_negative_bank(bank)
    assert np.isfinite(loaded.fit(train, batch_size=64, epochs=1, verbose=0).history["loss"][0])


def test_export_saved_model_serves_contexts(tmp_path):
    """Every backend exports (PyTorch through a TensorFlow child process): ``context`` -> ``prediction``."""
    tf = pytest.importorskip("tensorflow")
    model = transformer(input_dim=D)
    contexts = rotation_batches(n=6)["context"]
    expected = model.predict(contexts, verbose=0)
    model.export(str(tmp_path / "export"), verbose=False)
    served = tf.saved_model.load(str(tmp_path / "export"))
    signature = served.signatures["serving_default"]
    (spec,) = signature.structured_input_signature[1].values()
    assert tuple(spec.shape) == (None, K, D)
    got = signature(context=tf.constant(contexts))["prediction"]
    np.testing.assert_allclose(got.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(served.serve(tf.constant(contexts[:1]))["prediction"].numpy(), expected[:1],
                               atol=1e-5)


def test_export_of_a_saved_keras_file_serves_the_same_predictions(tmp_path):
    tf = pytest.importorskip("tensorflow")
    model = tiny_ranker()
    model.save(tmp_path / "final.keras")
    assert export_saved_model(tmp_path / "final.keras", tmp_path / "export") == str(tmp_path / "export")
    contexts = rotation_batches(n=4)["context"]
    signature = tf.saved_model.load(str(tmp_path / "export")).signatures["serving_default"]
    assert list(signature.structured_input_signature[1]) == ["context"]
    assert list(signature.structured_outputs) == ["prediction"]
    served = load_predictor(tmp_path)  # the run directory: best.keras is absent, final.keras is preferred
    assert served.kind == "keras"
    saved = load_predictor(tmp_path / "export")
    np.testing.assert_allclose(saved.predict(contexts), model.predict(contexts, verbose=0), atol=1e-5, rtol=0)
    assert (saved.context_length, saved.input_dim) == (K, D)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the child process exports on PyTorch only")
def test_a_failed_child_export_names_the_file(tmp_path):
    (tmp_path / "bad.keras").write_text("not a model")
    with pytest.raises(RuntimeError, match=r"SavedModel export of .*bad\.keras failed:\n"):
        export_saved_model(tmp_path / "bad.keras", tmp_path / "export")
