"""Parity: the same weights and batch give the same loss and metrics on TensorFlow, JAX and
PyTorch, and a model saved on another backend predicts the same on this one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from tests.models import parity_worker

BACKENDS = ("tensorflow", "jax", "torch")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.one_backend  # it runs every backend itself (child processes)
def test_backends_agree(tmp_path):
    here = keras.backend.backend()
    for other in BACKENDS:
        if other != here:
            env = {**os.environ, "KERAS_BACKEND": other, "PYTHONPATH": str(ROOT)}
            done = subprocess.run(
                [sys.executable, "-m", "tests.models.parity_worker", str(tmp_path)],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
            )
            assert done.returncode == 0, done.stderr[-3000:]
    parity_worker.run(tmp_path)  # this backend: writes its own files and loads the others' models

    reports = {b: json.loads((tmp_path / f"{b}.json").read_text()) for b in BACKENDS}
    for name in parity_worker.MODELS:
        reference = reports[here][name]
        for other in BACKENDS:
            got = reports[other][name]
            assert got["weights"] == reference["weights"], (name, other)
            for term, value in reference["terms"].items():
                assert abs(got["terms"][term] - value) <= 1e-4, (name, other, term, got["terms"][term], value)
            if other != here:
                theirs = np.load(tmp_path / f"{other}_{name}.npy")
                mine = np.load(tmp_path / f"{here}_loads_{other}_{name}.npy")
                np.testing.assert_allclose(mine, theirs, atol=1e-5, err_msg=f"{name} saved on {other}")
    # The terms are not trivially equal: the models predict something non-degenerate.
    assert 0 < reports[here]["transformer"]["terms"]["loss"] < 100
