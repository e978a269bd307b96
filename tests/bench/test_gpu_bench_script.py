"""``docs/gpu_bench.sh``, the README's GPU table: it runs here on the CPU at tiny sizes (no test needs a GPU)."""

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = "--dim 16 --d-model 16 --num-layers 1 --steps 2 --predict-calls 5 --predict-batch 32"

pytestmark = [pytest.mark.one_backend,
              pytest.mark.skipif(importlib.util.find_spec("jax") is None or importlib.util.find_spec("torch") is None,
                                 reason="the script's run here uses JAX and the PyTorch reference")]


def _script(out: pathlib.Path, **env: str) -> str:
    environment = {**os.environ, "OUT": str(out), "PYTHON": sys.executable, "BACKENDS": "jax",
                   "PRECISIONS": "float32", "EXTRA_FLAGS": TINY, **env}
    subprocess.run(["bash", "docs/gpu_bench.sh"], cwd=ROOT, env=environment, check=True, timeout=600)
    return (out / "log.txt").read_text()


def test_each_configuration_writes_its_figures_and_names_its_device(tmp_path):
    log = _script(tmp_path, SUFFIX="-tiny")
    result = json.loads((tmp_path / "jax-float32-tiny.json").read_text())
    assert result["backend"] == "jax" and result["precision"] == "float32" and result["train_steps"] == 2
    assert result["device"] == "cpu" or result["device"].startswith("gpu (")
    assert result["prototype_reference"]["device"].startswith(("cpu", "cuda ("))
    assert len(result["train_rounds"]) == 2 and result["predict_p50_ms"] > 0
    assert "== jax-float32-tiny: exit 0" in log and f"backend jax on {result['device']}" in log


def test_no_configuration_starts_once_the_budget_is_spent(tmp_path):
    log = _script(tmp_path, BUDGET_SECONDS="-1")
    assert "== jax-float32: not run (budget of -1 s spent)" in log
    assert not (tmp_path / "jax-float32.json").exists()
