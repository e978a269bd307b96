"""Issue 23: ``p7keras train --precision``: the run trains under the Keras dtype policy, says so, records it."""

import json

import keras
import pytest

from p7keras.cli.main import main
from p7keras.training.config import TrainConfig
from p7keras.training.default_precision import slow_on_this_cpu
from p7keras.training.preflight import _accelerators
from tests.training.test_train import TINY, corpus_file  # noqa: F401 (a pytest fixture)

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

NO_JAX_GPU = keras.backend.backend() != "jax" or "gpu" in _accelerators("jax")


def test_a_mixed_bfloat16_run_trains_records_and_saves_its_policy(tmp_path, corpus_file, capsys):  # noqa: F811
    out = tmp_path / "runs"
    code = main(["train", "--data", corpus_file, *TINY, "--epochs", "2", "--precision", "mixed_bfloat16",
                 "--output-dir", str(out), "--no-export"])
    assert code in (0, 1), capsys.readouterr().err  # PASS/MARGINAL or FAIL: the run itself finished
    text = capsys.readouterr().out
    caveat = slow_on_this_cpu("mixed_bfloat16", keras.backend.backend())  # a CPU without bfloat16 units: said
    assert ("Precision: mixed_bfloat16 (" + (f"as asked; {caveat}; " if caveat else "") + "Keras dtype policy: "
            "float32 variables and loss, the encoder and head in bfloat16)") in text.splitlines()
    (run,) = out.glob("p7_*")
    assert json.loads((run / "config.json").read_text())["precision"] == "mixed_bfloat16"
    history = json.loads((run / "history.json").read_text())
    assert all(v == v for v in history["loss"])  # finite: NaN != NaN
    model = keras.saving.load_model(run / "best.keras")
    assert model.dtype_policy.name == "mixed_bfloat16"
    assert {v.dtype for v in model.weights} == {"float32"}


@pytest.mark.skipif(NO_JAX_GPU, reason="the refusal is JAX's on a CPU")
def test_mixed_float16_on_jax_without_a_gpu_is_refused(tmp_path, corpus_file, capsys):  # noqa: F811
    out = tmp_path / "runs"
    assert main(["train", "--data", corpus_file, *TINY, "--precision", "mixed_float16", "--output-dir", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "p7keras train: error: --precision mixed_float16 needs a GPU on the jax backend (XLA's CPU backend has no "
        "float16 matrix product); use mixed_bfloat16 or float32 on a CPU"]
    assert not list(out.glob("p7_*"))  # refused before its first epoch: no run directory


def test_precision_settings_are_checked():
    assert "precision must be one of ('auto', 'float32', 'mixed_bfloat16', 'mixed_float16'), got 'fp8'" in \
        TrainConfig(precision="fp8").problems()
    assert any("mixed_float16 (loss scaling) cannot be combined with --distribute data-parallel" in p
               for p in TrainConfig(precision="mixed_float16", distribute="data-parallel").problems())
    assert TrainConfig(precision="mixed_bfloat16").model_kwargs()["dtype"] == "mixed_bfloat16"
    assert "dtype" not in TrainConfig().model_kwargs()
