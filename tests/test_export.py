"""``p7keras.export``: a ``.keras`` file of any backend becomes a SavedModel TensorFlow alone serves
(PyTorch through a ``KERAS_BACKEND=tensorflow`` child process)."""

import keras
import numpy as np
import pytest

from p7keras.evaluation.predictors import load_predictor
from p7keras.export import export_saved_model
from tests.evaluation.conftest import tiny_ranker
from tests.helpers import D, K, rotation_batches


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
