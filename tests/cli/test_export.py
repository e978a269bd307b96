"""Issue 23: ``p7keras export --quantize`` and ``--quantize`` on evaluate and predict."""

import json

import numpy as np
import pytest

from p7keras.cli.main import main
from p7keras.evaluation.predictors import load_predictor
from p7keras.models.precision import reduced_precision
from tests.evaluation.conftest import tiny_ranker
from tests.helpers import rotation_batches

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend


def _saved(tmp_path, seed=0):
    model = tiny_ranker()
    rng = np.random.default_rng(seed)  # off the initialisation (the residual head's zeros would hide errors)
    model.set_weights([w + 0.05 * rng.standard_normal(w.shape).astype(w.dtype) if w.ndim > 1 else w
                       for w in model.get_weights()])
    model.save(tmp_path / "m.keras")
    return model, str(tmp_path / "m.keras")


@pytest.mark.parametrize("mode", ["int8", "bfloat16"])
def test_export_writes_a_saved_model_and_a_keras_file_that_predict_as_the_reduced_copy(mode, tmp_path, capsys):
    model, path = _saved(tmp_path)
    contexts = rotation_batches(32, seed=1)["context"]
    want = reduced_precision(model, mode).predict(contexts, verbose=0)
    for out in (tmp_path / "served", tmp_path / "small.keras"):
        assert main(["export", path, "--out", str(out), "--quantize", mode]) == 0
        line = capsys.readouterr().out.strip().splitlines()[-1]
        assert line.startswith(f"wrote {out} ({mode}, ") and "cosine to the float32 model" in line
        predictor = load_predictor(str(out))
        assert predictor.kind == ("saved_model" if out.suffix != ".keras" else "keras")
        # the same reduced model (on PyTorch the SavedModel is TensorFlow's: 16-bit rounding differs a little)
        assert np.min(np.sum(predictor.predict(contexts) * want, axis=-1)) >= 0.9995
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_export_refuses_before_keras_what_it_cannot_do(tmp_path, capsys):
    _, path = _saved(tmp_path)
    (tmp_path / "served").mkdir()
    (tmp_path / "served" / "keep.txt").write_text("mine")
    cases = [
        (["export", path, "--out", str(tmp_path / "served")],
         f"p7keras export: error: {tmp_path}/served: exists already; pass --overwrite to replace it"),
        (["export", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "x")],
         f"p7keras export: error: {tmp_path}/nope.keras: no such model file or folder"),
        (["export", path, "--out", path],
         f"p7keras export: error: {path}: exists already; pass --overwrite to replace it"),
    ]
    for argv, line in cases:
        assert main(argv) == 2
        assert capsys.readouterr().err.strip().splitlines() == [line]
    assert (tmp_path / "served" / "keep.txt").read_text() == "mine"
    assert main(["export", path, "--out", str(tmp_path / "served"), "--overwrite"]) == 0  # replaced when asked
    assert not (tmp_path / "served" / "keep.txt").exists() and (tmp_path / "served" / "saved_model.pb").exists()
    capsys.readouterr()
    assert main(["export", str(tmp_path / "served"), "--out", str(tmp_path / "again")]) == 2
    assert "a SavedModel cannot be exported again" in capsys.readouterr().err


def test_evaluate_and_predict_take_quantize(corpus_path, tmp_path, capsys):
    _, path = _saved(tmp_path)
    report = tmp_path / "r.json"
    assert main(["evaluate", path, "--data", corpus_path, "--quantize", "int8", "--latency-calls", "2",
                 "--allow-small", "--no-diagnostics", "--resamples", "50", "--json", str(report)]) == 0
    assert list(json.loads(report.read_text())["models"]) == ["m@int8"]
    capsys.readouterr()
    assert main(["predict", path, "--data", corpus_path, "--quantize", "bfloat16", "--sample", "1"]) == 0
    assert "m@bfloat16" in capsys.readouterr().out
    assert main(["export", path, "--out", str(tmp_path / "served")]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(tmp_path / "served"), "--data", corpus_path, "--quantize", "int8"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"p7keras evaluate: error: {tmp_path}/served: a SavedModel is predicted as it was exported; --quantize int8 "
        "applies to a .keras model or a run directory (export a quantized copy with p7keras export MODEL --out OUT "
        "--quantize int8)")


def test_export_writes_onnx_that_evaluate_and_predict_read(corpus_path, tmp_path, capsys):
    model, _ = _saved(tmp_path)
    out = tmp_path / "m-int8.onnx"
    assert main(["export", str(tmp_path / "m.keras"), "--out", str(out), "--quantize", "int8"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(f"wrote {out} (int8, ") and "cosine to the float32 model on 8 random contexts: min 0.99" in line
    assert main(["export", str(tmp_path / "m.keras"), "--out", str(out)]) == 2  # not replaced unasked
    assert capsys.readouterr().err.strip() == f"p7keras export: error: {out}: exists already; pass --overwrite to replace it"
    contexts = rotation_batches(16, seed=2)["context"]
    cosine = np.sum(load_predictor(str(out)).predict(contexts) * model.predict(contexts, verbose=0), axis=-1)
    assert cosine.min() >= 0.99
    report = tmp_path / "r.json"
    assert main(["evaluate", str(out), "--data", corpus_path, "--latency-calls", "2", "--allow-small",
                 "--no-diagnostics", "--resamples", "50", "--json", str(report)]) == 0
    assert list(json.loads(report.read_text())["models"]) == ["m-int8"]
    capsys.readouterr()
    assert main(["predict", str(out), "--data", corpus_path, "--sample", "1"]) == 0
    assert "m-int8" in capsys.readouterr().out
