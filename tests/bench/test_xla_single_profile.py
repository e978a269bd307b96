"""``docs/xla_single_profile.py``: one sequence's prediction under XLA by XLA's own ops (issue 23); tiny sizes."""

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.one_backend,
              pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="reads TensorFlow's traces")]
TINY = ("--dim", "16", "--d-model", "16", "--num-layers", "1", "--calls", "20", "--profiled", "10", "--top", "6")


def _run(backend: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": backend}
    env.pop("XLA_FLAGS", None)
    return subprocess.run([sys.executable, "docs/xla_single_profile.py", *TINY], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=env)


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_profiles_the_one_sequence_call_by_xla_instruction(backend):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed")
    run = _run(backend)
    assert run.returncode == 0, run.stderr[-2000:]
    mode = {"tensorflow": "tf.function+compile_single", "jax": "jax.jit"}[backend]
    assert re.search(rf"^{backend}: one sequence, D 16, d_model 16, 1 layers, {re.escape(mode)}; p50 [\d.]+ ms "
                     r"\(20 calls, traced\)$", run.stdout, re.M), run.stdout
    total, products, count, covered, call = (float(x) for x in re.search(
        r"^XLA op time ([\d.]+) ms a call \(summed over threads\), of which matrix products ([\d.]+) ms \((\d+) "
        r"instructions\); at least one product runs during ([\d.]+) ms of each call \(([\d.]+) ms a profiled "
        r"call\)$", run.stdout, re.M).groups())
    # the encoder block's and the head's products: 7 Dense products and 2 attention products at least
    assert count >= 9 and products <= total and covered <= call
    rows = re.findall(r"^ +([\d.]+) ms +[\d.]+/call +\S+ \((\w[\w-]*), \S+\)(  product)?$", run.stdout, re.M)
    assert len(rows) == 6 and [float(ms) for ms, _, _ in rows] == sorted((float(ms) for ms, _, _ in rows),
                                                                          reverse=True)
    assert any(product for _, _, product in rows)  # at these sizes products are still among the slowest


def test_refuses_a_backend_without_one_xla_call():
    run = _run("torch")
    assert run.returncode == 2
    assert "KERAS_BACKEND=torch: this script profiles XLA's one-sequence call, on tensorflow or jax" in run.stdout
