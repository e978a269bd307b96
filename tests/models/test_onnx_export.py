"""Issue 23: a ranker written as ONNX (float32 and int8) and predicted by ONNX Runtime, from every backend."""

import numpy as np
import onnx
import pytest

from p7keras.cli.main import main
from p7keras.evaluation.predictors import load_predictor, resolve_model_path
from p7keras.models import onnx_export
from p7keras import config
from p7keras.config import onnx_problems
from p7keras.models.onnx_export import write_onnx
from tests.evaluation.conftest import tiny_ranker
from tests.helpers import D, K, rotation_batches


def _ranker(seed=0):
    model = tiny_ranker()
    rng = np.random.default_rng(seed)  # off the initialisation (the residual head's zeros would hide errors)
    model.set_weights([w + 0.05 * rng.standard_normal(w.shape).astype(w.dtype) if w.ndim > 1 else w
                       for w in model.get_weights()])
    return model


def test_onnx_file_predicts_as_the_model_and_its_int8_copy_stays_close(tmp_path):
    model = _ranker()
    contexts = rotation_batches(64, seed=1)["context"]
    want = np.asarray(model.predict(contexts, verbose=0))
    write_onnx(model, tmp_path / "m.onnx")  # on JAX and PyTorch through a TensorFlow child process
    write_onnx(model, tmp_path / "m8.onnx", quantize="int8")
    assert resolve_model_path(tmp_path / "m.onnx") == ("onnx", str(tmp_path / "m.onnx"))
    float32, int8 = load_predictor(str(tmp_path / "m.onnx")), load_predictor(str(tmp_path / "m8.onnx"))
    assert (float32.kind, float32.name, float32.context_length, float32.input_dim) == (
        "onnx", "m", model.context_length, model.input_dim)
    np.testing.assert_allclose(float32.predict(contexts), want, atol=2e-5)
    np.testing.assert_allclose(float32.single_fn(contexts[:1]), want[:1], atol=2e-5)
    cosine = np.sum(int8.predict(contexts) * want, axis=-1)
    assert cosine.min() >= 0.99 and cosine.min() < 1 - 1e-6  # close, and really quantized
    def products(name):  # (kind, in the attention layer) of the products with a weight
        graph = onnx.load(tmp_path / name).graph
        weights = {tensor.name for tensor in graph.initializer}
        return {(node.op_type, "/attention" in node.name) for node in graph.node
                if node.op_type.startswith("MatMul") and node.input[1] in weights}

    assert products("m.onnx") == {("MatMul", False), ("MatMul", True)}
    assert products("m8.onnx") == {("MatMulInteger", False), ("MatMul", True)}  # attention stays float32
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m8.onnx"]  # no temporary file left


@pytest.mark.one_backend
def test_what_onnx_cannot_do_is_said_in_one_line(tmp_path, monkeypatch, capsys):
    assert onnx_problems() == [] and onnx_problems("int8") == []
    assert onnx_problems("bfloat16") == [
        "--quantize bfloat16 cannot be written as ONNX (ONNX Runtime has no bfloat16 CPU kernels): use int8, or a "
        ".keras file or SavedModel"]
    model = _ranker()
    model.save(tmp_path / "m.keras")
    assert main(["export", str(tmp_path / "m.keras"), "--out", str(tmp_path / "m.onnx"), "--quantize",
                 "bfloat16"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"p7keras export: error: {tmp_path}/m.onnx: --quantize bfloat16 cannot be written as ONNX (ONNX Runtime has "
        "no bfloat16 CPU kernels): use int8, or a .keras file or SavedModel"]
    (tmp_path / "bad.onnx").write_bytes(b"not a model")
    with pytest.raises(ValueError, match=r"bad\.onnx: cannot load as an ONNX model \("):
        load_predictor(str(tmp_path / "bad.onnx"))
    with pytest.raises(ValueError, match=r"bad\.onnx: an ONNX model is predicted as it was exported; --quantize int8"):
        load_predictor(str(tmp_path / "bad.onnx"), quantize="int8")
    real = config.importlib.util.find_spec
    monkeypatch.setattr(config.importlib.util, "find_spec", lambda name: None if name == "tf2onnx" else real(name))
    assert onnx_problems() == ['ONNX export needs tf2onnx: pip install "p7keras[onnx]"']
    with pytest.raises(ValueError, match="ONNX export needs tf2onnx"):
        write_onnx(model, tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_the_flat_rankers_exact_gelu_runs_in_onnx_runtime(tmp_path):
    """tf2onnx writes TensorFlow's Erfc (exact GELU) as a node ONNX Runtime refuses; the export rewrites it."""
    import p7keras

    model = p7keras.FlatP7Ranker(context_length=K, input_dim=D, d_model=16, dropout=0.0)
    contexts = rotation_batches(32, seed=3)["context"]
    write_onnx(model, tmp_path / "flat.onnx")
    ops = {node.op_type for node in onnx.load(tmp_path / "flat.onnx").graph.node}
    assert "Erf" in ops and "Erfc" not in ops
    np.testing.assert_allclose(load_predictor(str(tmp_path / "flat.onnx")).predict(contexts),
                               model.predict(contexts, verbose=0), atol=2e-5)


@pytest.mark.one_backend
def test_a_file_that_does_not_predict_as_the_model_replaces_nothing(tmp_path, monkeypatch):
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the check runs in the TensorFlow export process, which the monkeypatch does not reach")
    model = _ranker()
    (tmp_path / "m.onnx").write_text("mine")
    monkeypatch.setitem(onnx_export.READ_BACK_COSINE, None, 1.5)  # no file can pass: the check must refuse
    with pytest.raises(RuntimeError, match=r"m\.onnx: the exported ONNX file's predictions differ from the model's "
                                           r"\(smallest cosine (1\.0000\d\d|0\.99999\d) on 64 random contexts, expected "
                                           r">= 1\.5\)$"):
        write_onnx(model, tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


def test_a_failing_export_process_is_one_line(tmp_path, monkeypatch):
    import keras

    if keras.backend.backend() == "tensorflow":
        pytest.skip("TensorFlow exports in its own process: no child process to fail")
    monkeypatch.setattr(onnx_export, "_CHILD_EXPORT", "import sys; sys.exit('the child says no')")
    with pytest.raises(RuntimeError) as caught:
        write_onnx(_ranker(), tmp_path / "m.onnx")
    assert str(caught.value) == f"ONNX export to {tmp_path}/m.onnx failed in its TensorFlow process: the child says no"
    assert not (tmp_path / "m.onnx").exists()
