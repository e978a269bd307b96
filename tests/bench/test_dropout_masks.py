"""``docs/dropout_masks.py``: the bench step's dropout masks under JAX's CPU lowering of Threefry and under
p7keras' unrolled one, and TensorFlow's Philox against Threefry under XLA (issue 23)."""

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.one_backend


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="times JAX's lowerings")
def test_the_two_lowerings_side_by_side():
    out = subprocess.run([sys.executable, "docs/dropout_masks.py", "--rounds", "2", "--calls", "3"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, check=True).stdout
    rounds = re.findall(r"^round (\d): jax ([\d.]+) ms \(a while loop\), unrolled ([\d.]+) ms \(no loop\)$", out, re.M)
    assert [r[0] for r in rounds] == ["1", "2"], out
    assert all(float(jax_ms) > 0 and float(unrolled_ms) > 0 for _, jax_ms, unrolled_ms in rounds)
    assert out.strip().endswith("same masks under both lowerings")



@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="times JAX's lowerings")
def test_the_whole_step_under_each_lowering():
    out = subprocess.run([sys.executable, "docs/dropout_masks.py", "--whole-step", "--rounds", "1", "--dim", "16",
                          "--d-model", "16", "--num-layers", "1", "--batch-size", "8"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600, check=True).stdout
    (jax_rate, unrolled_rate), = re.findall(r"^round 1: jax ([\d.]+) seq/s \(a while loop\), unrolled ([\d.]+) "
                                            r"seq/s \(no loop\)$", out, re.M)
    assert float(jax_rate) > 0 and float(unrolled_rate) > 0  # each child ran its lowering (the loop says which)


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="times TensorFlow's generators")
def test_tensorflow_generators_side_by_side_under_xla():
    out = subprocess.run([sys.executable, "docs/dropout_masks.py", "--backend", "tensorflow", "--rounds", "2",
                          "--calls", "3"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=True).stdout
    rounds = re.findall(r"^round (\d): philox \(Keras\) ([\d.]+) ms \(kept ([\d.]+)\), "
                        r"threefry \(p7keras\) ([\d.]+) ms \(kept ([\d.]+)\)$", out, re.M)
    assert [r[0] for r in rounds] == ["1", "2"], out
    for _, philox_ms, philox_kept, threefry_ms, threefry_kept in rounds:
        assert float(philox_ms) > 0 and float(threefry_ms) > 0
        assert 0.88 < float(philox_kept) < 0.92 and 0.88 < float(threefry_kept) < 0.92  # rate 0.1 of ~1.1M entries
