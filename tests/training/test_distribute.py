"""``--distribute data-parallel`` (issue 14): the same objective on 2 CPU devices as on one, end to end runs.

The parity checks run ``tests.training.distribute_parity`` in a fresh process (the CPU is split into two
devices before the backend starts), each in the test run of its own backend.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

from p7keras.cli.main import main
from p7keras.training import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BACKEND = keras.backend.backend()
TINY = ["--d-model", "16", "--num-heads", "2", "--num-layers", "1", "--ff-dim", "32", "--num-articles", "40",
        "--dim", "16", "--batch-size", "32", "--no-export"]
only_data_parallel = pytest.mark.skipif(BACKEND == "torch", reason="data-parallel runs on JAX and TensorFlow")


def _parity(optimizer: str) -> dict:
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-m", "tests.training.distribute_parity", BACKEND, optimizer], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@only_data_parallel
def test_one_step_on_two_devices_equals_one_device():
    """Same loss (global in-batch negatives, global teacher count) and, with SGD, the same updated weights."""
    sgd = _parity("sgd")
    assert sgd["replicas"] == 2
    assert sgd["loss"][0] == pytest.approx(sgd["loss"][1], abs=1e-5)
    assert sgd["max_weight_difference"] < 1e-5
    adamw = _parity("adamw")
    assert adamw["loss"][0] == pytest.approx(adamw["loss"][1], abs=1e-5)
    if BACKEND == "jax":  # one jax.jit program over the global batch: AdamW's update agrees too
        assert adamw["max_weight_difference"] < 1e-5
    else:  # AdamW's first step is lr * g / (|g| + 1e-7): float noise in ~0 gradients moves by up to ~lr
        assert adamw["max_weight_difference"] < 5e-4


@pytest.mark.slow
@only_data_parallel
def test_two_epochs_on_two_cpu_devices(tmp_path):
    env = dict(os.environ, KERAS_BACKEND=BACKEND, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-m", "p7keras", "train", "--distribute", "data-parallel",
                           "--cpu-devices", "2", "--epochs", "2", *TINY, "--output-dir", str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    assert f"Data-parallel over 2 devices ({BACKEND}), global batch 32" in done.stdout
    (run,) = tmp_path.iterdir()
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == 2 and history["loss"][1] < history["loss"][0]
    assert json.loads((run / "config.json").read_text())["distribute"] == "data-parallel"


def test_unsupported_settings_are_refused_before_any_work(tmp_path, capsys):
    with pytest.raises(ValueError, match="the torch backend has no such engine in Keras"):
        TrainConfig(distribute="data-parallel", backend="torch").check()
    with pytest.raises(ValueError, match="not supported with --distribute data-parallel on TensorFlow"):
        TrainConfig(distribute="data-parallel", backend="tensorflow", negative_queue=8).check()
    with pytest.raises(SystemExit) as exited:
        main(["train", "--distribute", "everywhere", "--output-dir", str(tmp_path)])
    assert exited.value.code == 2 and "invalid choice: 'everywhere'" in capsys.readouterr().err
    from p7keras.training.distribute import _check_batch

    with pytest.raises(ValueError, match="batch_size 33 does not split evenly across 2 devices; use a multiple of 2"):
        _check_batch(33, 2)
